/* SPDX-License-Identifier: Apache-2.0
 * jsonv.c — read-only getters over parsed JSON (see jsonv.h).
 */
#include "jsonv.h"

#include <math.h>

json_object *jv_get(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

json_object *jv_field(json_object *o, const char *k)
{
    json_object *v = jv_get(o, k);
    return json_object_is_type(v, json_type_null) ? NULL : v;
}

bool jv_is_num(json_object *v) { return json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int); }

double jv_num(json_object *o, const char *k)
{
    json_object *v = jv_get(o, k);
    double d = jv_is_num(v) ? json_object_get_double(v) : 0.0;
    return isfinite(d) ? d : 0.0;
}

const char *jv_str(json_object *o, const char *k)
{
    json_object *v = jv_get(o, k);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

json_object *jv_arr(json_object *o, const char *k)
{
    json_object *v = jv_get(o, k);
    return json_object_is_type(v, json_type_array) ? v : NULL;
}

const char *jv_type_desc(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "something else";
}
