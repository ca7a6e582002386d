/* object.c -- the object name of an incremental: pages-PARENT.zst. */
#include <stdio.h>
#include <string.h>
#include "chain.h"
#include "util.h"

/* pages-PARENT.zst */
void chain_object_name(const char *parent_ts, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", CHAIN_OBJECT_PREFIX, parent_ts, CHAIN_OBJECT_SUFFIX);
}

/* The parent's folder timestamp of pages-PARENT.zst; -1 for any other name. */
int chain_object_parent(const char *name, char *parent_ts, size_t cap)
{
    size_t plen = strlen(CHAIN_OBJECT_PREFIX), slen = strlen(CHAIN_OBJECT_SUFFIX), n = strlen(name);
    int64_t ms;
    char ts[SV_TS_LEN];
    if (n != plen + SV_TS_LEN - 1 + slen || strncmp(name, CHAIN_OBJECT_PREFIX, plen) != 0 ||
        strcmp(name + n - slen, CHAIN_OBJECT_SUFFIX) != 0 || cap < SV_TS_LEN)
        return -1;
    memcpy(ts, name + plen, SV_TS_LEN - 1);
    ts[SV_TS_LEN - 1] = '\0';
    if (sv_ts_parse(ts, &ms) != 0) return -1;
    memcpy(parent_ts, ts, SV_TS_LEN);
    return 0;
}
