/* msgpack.c -- job options between jansson objects and msgpack maps.
 *
 * Options travel in the job hash as a msgpack map (docs/PROTOCOL.md, The job hash), so a Node
 * client (@msgpack/msgpack) and the C worker read the same bytes. Strings
 * map to str, integers to int, reals to float64, booleans and null to
 * themselves, arrays and objects recursively; bin decodes as a string. The
 * depth is capped so a hostile payload cannot exhaust the stack. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "queue.h"

#define MP_MAX_DEPTH 32

/* Packs one JSON value. */
static int pack_value(msgpack_packer *pk, json_t *v, int depth)
{
    if (depth > MP_MAX_DEPTH) return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach(v, k, x) {
            msgpack_pack_str(pk, strlen(k));
            msgpack_pack_str_body(pk, k, strlen(k));
            if (pack_value(pk, x, depth + 1) != 0) return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, x)
            if (pack_value(pk, x, depth + 1) != 0) return -1;
        return 0;
    }
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(v));
        msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v));
    case JSON_TRUE: return msgpack_pack_true(pk);
    case JSON_FALSE: return msgpack_pack_false(pk);
    case JSON_NULL: return msgpack_pack_nil(pk);
    }
    return -1;
}

/* Encodes opts (an object, or NULL for {}) as a msgpack map. */
int queue_opts_pack(json_t *opts, char **buf, size_t *len, sv_err *err)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    *buf = NULL;
    *len = 0;
    if (opts && !json_is_object(opts)) return sv_err_set(err, SV_EINVAL, "job options must be an object");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (opts ? pack_value(&pk, opts, 0) != 0 : msgpack_pack_map(&pk, 0) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return sv_err_set(err, SV_EINVAL, "job options nest too deep");
    }
    *len = sb.size;
    *buf = msgpack_sbuffer_release(&sb);
    msgpack_sbuffer_destroy(&sb);
    return *buf ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
}

/* Converts one msgpack object to a new JSON reference, NULL if unsupported. */
static json_t *to_json(const msgpack_object *o, int depth)
{
    json_t *v = NULL;
    if (depth > MP_MAX_DEPTH) return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return o->via.u64 > (uint64_t)INT64_MAX ? json_real((double)o->via.u64)
                                                 : json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return json_stringn_nocheck(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY:
        v = json_array();
        for (uint32_t i = 0; v && i < o->via.array.size; i++) {
            json_t *x = to_json(&o->via.array.ptr[i], depth + 1);
            if (!x || json_array_append_new(v, x) != 0) goto bad;
        }
        return v;
    case MSGPACK_OBJECT_MAP:
        v = json_object();
        for (uint32_t i = 0; v && i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[256];
            json_t *x;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size < sizeof key) {
                memcpy(key, k->via.str.ptr, k->via.str.size);
                key[k->via.str.size] = '\0';
            } else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                snprintf(key, sizeof key, "%llu", (unsigned long long)k->via.u64);
            } else {
                goto bad;
            }
            x = to_json(&o->via.map.ptr[i].val, depth + 1);
            if (!x || json_object_set_new(v, key, x) != 0) goto bad;
        }
        return v;
    default: return NULL;
    }
bad:
    json_decref(v);
    return NULL;
}

/* Decodes a msgpack map into a JSON object; empty input is {}. */
int queue_opts_unpack(const char *buf, size_t len, json_t **out, sv_err *err)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc = -1;
    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return *out ? 0 : sv_err_set(err, SV_ENOMEM, "out of memory");
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        sv_err_set(err, SV_EINVAL, "job options are not a msgpack map");
        goto done;
    }
    *out = to_json(&u.data, 0);
    if (!*out) {
        sv_err_set(err, SV_EINVAL, "job options hold a value that has no json form");
        goto done;
    }
    rc = 0;
done:
    msgpack_unpacked_destroy(&u);
    return rc;
}
