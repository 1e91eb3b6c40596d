/* SPDX-License-Identifier: Apache-2.0
 * test_ai.c — tools/ai.c without a network: the provider names, reading a
 * model's answer (code block, reason, <think> part, no block), the diff of
 * a region against a proposal, and the prompt's figures. The requests and
 * their wire formats are tested end to end against stand-ins
 * (tests/e2e/test_ai.py). Context: thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "tap.h"

static int extract(const char *reply, const char *want_code, const char *want_reason)
{
    char *code = NULL, *reason = NULL;
    int rc = ai_extract(reply, &code, &reason);
    int good = rc == 0 && code && reason && strcmp(code, want_code) == 0 && strcmp(reason, want_reason) == 0;
    if (!good)
        printf("# rc %d code [%s] reason [%s]\n", rc, code ? code : "(null)", reason ? reason : "(null)");
    free(code);
    free(reason);
    return good;
}

int main(void)
{
    plan(15);
    ai_provider_t p = AI_AUTO;
    ok(ai_provider_parse("bedrock", &p) == 0 && p == AI_BEDROCK && strcmp(ai_provider_name(p), "bedrock") == 0,
       "provider names both ways");
    ok(ai_provider_parse("gemini", &p) == -EINVAL && p == AI_BEDROCK, "an unknown provider is -EINVAL and leaves *out");

    ok(extract("Sure.\n```python\nx = sum(a)\n```\nReason: sum runs in C.\n", "x = sum(a)", "sum runs in C."),
       "code block with a language tag, Reason line after it");
    ok(extract("**Reason:** vectorized\n\n```\n    y = 1\n    z = 2\n```", "    y = 1\n    z = 2", "vectorized"),
       "indentation kept, no tag, a bold Reason line before the block");
    ok(extract("Use a comprehension.\n```py\nr = [f(v) for v in vs]\n```\n", "r = [f(v) for v in vs]",
               "Use a comprehension."),
       "no Reason line: the first prose line");
    ok(extract("<think>\n```python\ndraft()\n```\n</think>\n```python\nfinal()\n```\nReason: r", "final()", "r"),
       "a <think> part's drafts are skipped");
    ok(extract("  ```python\n  a = 1\n  ```\nReason: x", "  a = 1", "x"), "an indented fence");
    char *c = NULL, *r = NULL;
    ok(ai_extract("I cannot make it faster.", &c, &r) == -EPROTO && !c && !r, "no code block is -EPROTO");
    ok(extract("```python\nunclosed = 1\n", "unclosed = 1", ""), "an unclosed block runs to the end");

    const char *a = "for i in range(n):\n    t += i\nreturn t", *b = "t = sum(range(n))\nreturn t";
    char *d = ai_diff(a, strlen(a), b, strlen(b), "original", "proposed", 12);
    ok(d && strcmp(d, "--- original\n+++ proposed\n@@ -12,3 +12,2 @@\n-for i in range(n):\n-    t += i\n+t = sum(range(n))\n"
                      " return t\n") == 0,
       "diff: removed, added and the common line");
    free(d);
    d = ai_diff("", 0, "pass", 4, "o", "p", 5);
    ok(d && strcmp(d, "--- o\n+++ p\n@@ -5,1 +5,1 @@\n-\n+pass\n") == 0, "diff: a blank line is one line");
    free(d);
    d = ai_diff("x", 1, "x", 1, "o", "p", 1);
    ok(d && strcmp(d, "--- o\n+++ p\n@@ -1,1 +1,1 @@\n x\n") == 0, "diff of equal texts: context only");
    free(d);

    ai_line_t lines[2] = {
        {.lineno = 7, .text = "for i in range(n):", .text_len = 18, .py = 12.34, .nat = 0.5, .sys = 0.05},
        {.lineno = 8, .text = "    t += i  # x", .text_len = 15, .py = 0, .nat = 40.0, .sys = 1.0, .alloc_mb = 3.25,
         .pyfrac = 0.25, .net_mb = 1.5, .copy_mb_s = 2.0},
    };
    ai_region_t reg = {.file = "/srv/app.py", .kind = "loop", .python_version = "3.12.1",
                       .imports = "import numpy as np\n", .memory = true, .lines = lines, .n = 2};
    char *pr = ai_prompt(&reg);
    ok(pr && strstr(pr, "lines 7-8 (loop) of /srv/app.py, run by Python 3.12.1") && strstr(pr, "import numpy as np\n"),
       "prompt: region, file, Python version, imports");
    ok(pr && strstr(pr, "line 7: Python 12.3%, native 0.5%, system 0.1% (mostly in the line itself)") &&
           strstr(pr, "line 8: Python 0.0%, native 40.0%, system 1.0% (mostly in what the line calls or waits for); "
                      "allocated 3.2 MB (25% by Python), still held 1.5 MB, copied 2.0 MB/s"),
       "prompt: each line's figures, and where its time is");
    ok(pr && strstr(pr, "```python\nfor i in range(n):\n    t += i  # x\n```") && strstr(pr, "Reason:"),
       "prompt: the source in a block, and the answer asked for");
    free(pr);
    return done_testing();
}
