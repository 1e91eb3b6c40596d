/* SPDX-License-Identifier: Apache-2.0
 * ai.h — optimization proposals from a language model (issue 15): builds
 * the prompt from a region of a profiled file and its figures, asks one
 * provider over libcurl (OpenAI-compatible chat completions, Azure OpenAI,
 * Ollama, Anthropic, Amazon Bedrock's Converse API signed with SigV4), and
 * extracts the reply's code block and reason. Called by tools/view.c, for
 * `scalene view --optimize` and for the served page's proposal endpoint.
 * Keys come from the caller or the environment and are never printed,
 * logged or written: an error line has every copy of the key cut out.
 */
#ifndef SCALENE_AI_H
#define SCALENE_AI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum ai_provider {
    AI_AUTO = 0, /* the first provider whose key is set, else Ollama */
    AI_OPENAI,
    AI_AZURE,
    AI_OLLAMA,
    AI_ANTHROPIC,
    AI_BEDROCK,
} ai_provider_t;

/* Where to ask. Visible because view.c fills it from options; all strings
 * are borrowed for the call. NULL means "the provider's default" (for key:
 * the provider's environment variable). */
typedef struct ai_req {
    ai_provider_t provider;
    const char *model;       /* Azure: the deployment */
    const char *url;         /* base URL (OpenAI-compatible, Ollama, Anthropic, Azure endpoint, Bedrock) */
    const char *key;         /* typed by the user; never from argv */
    const char *api_version; /* Azure's api-version */
    const char *region;      /* Bedrock's region */
    double timeout_s;        /* whole request; 0: AI_DEFAULT_TIMEOUT_S */
    /* or NULL; once true the request stops within about a second with
     * -ECANCELED (read with acquire; the page server sets it when it stops) */
    const atomic_bool *cancel;
} ai_req_t;

#define AI_DEFAULT_TIMEOUT_S 120.0

/* One line of the region with the profile's figures (percentages of the
 * profile's total time; MB as the report has them). Visible: the caller
 * (view.c) fills an array of them from its model of the report. */
typedef struct ai_line {
    long long lineno;
    const char *text;
    size_t text_len;
    double py, nat, sys;
    double alloc_mb, net_mb, pyfrac, copy_mb_s;
} ai_line_t;

/* The region to optimize: lines[0..n) in order, borrowed. kind says what
 * it is ("line", "loop", "function", "lines"); imports is the file's
 * import statements, one a line, or NULL. Visible: filled by the caller. */
typedef struct ai_region {
    const char *file;
    const char *kind;
    const char *python_version; /* or NULL */
    const char *imports;
    bool memory; /* the profile has memory figures */
    const ai_line_t *lines;
    size_t n;
} ai_region_t;

/* A proposal: the code block of the reply, its one-line reason (may be
 * empty), a unified diff of the region against the code, and which
 * provider/model answered. Visible: the caller reads every field. Free
 * with ai_proposal_free(). */
typedef struct ai_proposal {
    char *code, *reason, *diff;
    char provider[16], model[128];
} ai_proposal_t;

/* "openai", "azure", "ollama", "anthropic", "bedrock" to *out. Returns 0,
 * or -EINVAL for any other name. Context: thread. */
int ai_provider_parse(const char *name, ai_provider_t *out);

/* The provider's name, as ai_provider_parse() reads it. Context: thread. */
const char *ai_provider_name(ai_provider_t p);

/* Builds the prompt for r. Returns a new string (caller frees), or NULL
 * with errno ENOMEM. Context: thread. */
char *ai_prompt(const ai_region_t *r);

/* Asks the provider of req (AI_AUTO resolved as documented) for a faster
 * version of r. Returns 0 with *out filled, or a negative errno with one
 * line (no "scalene: " prefix, no key) in err[0..n): -ENOKEY no key,
 * -EACCES 401/403, -EAGAIN 429 (with its retry hint), -EHOSTUNREACH
 * unreachable, -ETIMEDOUT no reply in time, -EPROTO a reply that is not
 * what the API promises or no code block, -EINVAL a bad request setting,
 * -EIO another HTTP error, -ECANCELED req->cancel was set. Thread-safe: each call has its own handle.
 * Context: thread. */
int ai_propose(const ai_req_t *req, const ai_region_t *r, ai_proposal_t *out, char *err, size_t n);

/* Frees what ai_propose() put in p; a zeroed p is fine. Context: thread. */
void ai_proposal_free(ai_proposal_t *p);

/* Extracts the first fenced code block of reply (its language tag
 * dropped) to *code and the reason (a "Reason:" line, else the first prose
 * line) to *reason; both new strings, caller frees. Returns 0, -EPROTO
 * when there is no code block, or -ENOMEM. Context: thread. */
int ai_extract(const char *reply, char **code, char **reason);

/* A unified diff of a[0..na) against b[0..nb) (texts of lines separated by
 * '\n'), headed by "--- name_a" and "+++ name_b". Returns a new string
 * (caller frees) or NULL with errno ENOMEM. Context: thread. */
char *ai_diff(const char *a, size_t na, const char *b, size_t nb, const char *name_a, const char *name_b,
              long long first_line);

#endif /* SCALENE_AI_H */
