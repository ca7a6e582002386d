/* job.c -- the table of job types: body, workspace exclusivity, priority. */
#include <string.h>
#include "job.h"

static const struct {
    const char *type;
    job_fn fn;
    bool exclusive;
    const char *priority;
} job_types[] = {
    {"backup", job_backup, true, "interactive"},
    {"export", job_export, true, "interactive"},
    {"restore", job_restore, true, "interactive"},
    {"verify", job_verify, false, "scheduled"},
    {"prune", job_prune, true, "scheduled"},
    {"import-url", job_import_url, false, "interactive"},
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

/* True for types that must not overlap another such job on the workspace. */
bool job_needs_exclusive(const char *type)
{
    int i = find(type);
    return i >= 0 && job_types[i].exclusive;
}

/* "scheduled" for scheduler-made work, else the type's default. */
const char *job_default_priority(const char *type, const char *reason)
{
    int i = find(type);
    if (reason && strcmp(reason, "scheduled") == 0) return "scheduled";
    return i < 0 ? "interactive" : job_types[i].priority;
}
