/* SPDX-License-Identifier: Apache-2.0
 * jsonv.h — read-only getters over parsed JSON (json-c), shared by the
 * tools that read reports: view, the exports, merge and pprof. A report is
 * untrusted input, so every getter takes any value: a missing key, a
 * non-object or a value of the wrong type reads as NULL (or 0), never a
 * crash. The callers decide which of those is an error worth naming.
 */
#ifndef SCALENE_JSONV_H
#define SCALENE_JSONV_H

#include <json-c/json.h>
#include <stdbool.h>

/* o[k], or NULL when o is no object or has no k (a JSON null is a value). */
json_object *jv_get(json_object *o, const char *k);

/* o[k] as jv_get, but a JSON null reads as NULL too. */
json_object *jv_field(json_object *o, const char *k);

/* v is a JSON number (integer or not). */
bool jv_is_num(json_object *v);

/* o[k] as a finite number, else 0 (NaN and infinities too). */
double jv_num(json_object *o, const char *k);

/* o[k] if it is a string (json-c's storage, valid while o lives), else NULL. */
const char *jv_str(json_object *o, const char *k);

/* o[k] if it is an array, else NULL. */
json_object *jv_arr(json_object *o, const char *k);

/* "a number", "an object"...: for an error that names what was found. */
const char *jv_type_desc(json_object *o);

#endif
