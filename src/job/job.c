/* job.c -- the table of job types: body and priority. How a type locks its
 * workspace (exclusive, shared, none) is decided in one place only, the
 * LOCKS table of src/queue/sqlvault.lua, which claims take the lock by. */
#include <string.h>
#include "job.h"
#include "replica.h"

static const struct {
    const char *type;
    job_fn fn;
    const char *priority;
} job_types[] = {
    {"backup", job_backup, "interactive"},
    {"export", job_export, "interactive"},
    {"restore", job_restore, "interactive"},
    {"verify", job_verify, "scheduled"},
    {"prune", job_prune, "scheduled"},
    {"import-url", job_import_url, "interactive"},
    {"replicate", job_replicate, "scheduled"},
    {"inspect", job_inspect, "interactive"},
};

/* Finds a type's entry index, -1 if unknown. */
static int find(const char *type)
{
    for (size_t i = 0; type && i < sizeof job_types / sizeof job_types[0]; i++)
        if (strcmp(job_types[i].type, type) == 0) return (int)i;
    return -1;
}

/* Body of a job type, NULL if unknown. */
job_fn job_lookup(const char *type)
{
    int i = find(type);
    return i < 0 ? NULL : job_types[i].fn;
}

/* "scheduled" for the cron sweep's work, else the type's default, where an
 * interactive type's job made for the dirty set (reason "dirty", as the
 * drain's own backups: sqlvault_dirty_drain) is "dirty": behind user-facing
 * work, ahead of the sweep. The Node client picks the same way. */
const char *job_default_priority(const char *type, const char *reason)
{
    int i = find(type);
    const char *p = i < 0 ? "interactive" : job_types[i].priority;
    if (reason && strcmp(reason, "scheduled") == 0) return "scheduled";
    if (reason && strcmp(reason, "dirty") == 0 && strcmp(p, "interactive") == 0) return "dirty";
    return p;
}
