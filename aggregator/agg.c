/* SPDX-License-Identifier: Apache-2.0
 * agg.c — `scalene run` (see agg.h).
 *
 * Signals. The program runs in its own process group. When our terminal is
 * ours to give, the program's group gets the foreground, so Ctrl-C, Ctrl-\
 * and Ctrl-Z reach the program exactly as without the profiler and never
 * reach us. SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to us are forwarded to the
 * program's group, as a terminal would. We block them and take them with
 * sigtimedwait, so no handler runs in this process at all. A program that
 * ignores them cannot hold us forever: a third SIGINT/SIGTERM within
 * AGG_STOP_WINDOW_NS of the first, or a SIGQUIT, stops the wait; the report
 * is written and we exit 128+N. The program gets SIGTERM when we die
 * (PR_SET_PDEATHSIG), however we die, as it would die with Scalene, which
 * runs inside it; nothing stronger is ever sent to it.
 */
#include "agg.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "drn.h"
#include "nv.h"
#include "record.h"
#include "ring.h"
#include "rpt.h"
#include "safefile.h"
#include "tbl.h"

#define AGG_SLOTS 512
#define AGG_CAP 4096
#define AGG_STOP_WINDOW_NS 5000000000ull  /* a third SIGINT/SIGTERM this soon after the first stops the wait */
#define AGG_SCAN_PERIOD_NS 100000000ull   /* least time between looks for Python processes that run without us */
#define AGG_SCAN_MAX 4096                 /* processes looked at per scan */

extern char **environ;

static int user_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "scalene: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

/* path made absolute against the working directory, without resolving
 * links (a venv's bin/python is a link, and it is the venv only by that
 * name). Returns a malloc'd string or NULL. */
static char *absolute(const char *path)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return strdup(path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path);
    return s;
}

/* The first executable file `name` in PATH, as execvp would find it; a name
 * with a slash is taken as it is. Returns a malloc'd absolute path, or NULL
 * with errno set. */
static char *which(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? absolute(name) : NULL;
    const char *path = getenv("PATH");
    char *p = strdup(path ? path : "/usr/bin:/bin"), *save = NULL, *res = NULL;
    if (!p)
        return NULL;
    for (char *d = strtok_r(p, ":", &save); d && !res; d = strtok_r(NULL, ":", &save)) {
        char cand[PATH_MAX];
        if ((size_t)snprintf(cand, sizeof cand, "%s/%s", *d ? d : ".", name) >= sizeof cand)
            continue;
        struct stat st;
        if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode))
            res = absolute(cand);
    }
    free(p);
    if (!res)
        errno = ENOENT;
    return res;
}

/* The interpreter a script names in its "#!" line, if that is a Python:
 * "#!/usr/bin/python3 -u" or "#!/usr/bin/env python3" (looked up in PATH,
 * as env would). Returns a malloc'd path or NULL. */
static char *shebang_python(const char *script)
{
    FILE *f = fopen(script, "r");
    if (!f)
        return NULL;
    char line[512];
    char *res = NULL;
    if (fgets(line, sizeof line, f) && line[0] == '#' && line[1] == '!') {
        char *save = NULL, *w = strtok_r(line + 2, " \t\r\n", &save);
        if (w && strcmp(strrchr(w, '/') ? strrchr(w, '/') + 1 : w, "env") == 0)
            w = strtok_r(NULL, " \t\r\n", &save);
        const char *base = w ? (strrchr(w, '/') ? strrchr(w, '/') + 1 : w) : "";
        if (w && strncmp(base, "python", 6) == 0)
            res = w[0] == '/' ? strdup(w) : which(w);
    }
    fclose(f);
    return res;
}

/* What the version probe learnt about an interpreter. */
typedef struct py_probe {
    uint32_t hex;         /* sys.hexversion */
    bool nogil;           /* a free-threaded build (Py_GIL_DISABLED) */
    char impl[32];        /* sys.implementation.name; "cpython" on 2.x */
    char exe[PATH_MAX];   /* sys.executable: a shim's real interpreter */
} py_probe_t;

#define AGG_PROBE_TIMEOUT_MS 30000

/* Asks the interpreter what it is, before the program runs, and (only when
 * it is one we profile) compiles the script in it, so that a syntax error
 * is one clear line instead of a run: one interpreter start for both. The
 * code must run on every Python there is (2.7 included: no -I, no
 * f-strings, no print()), so that an unsupported one is named rather than
 * failing obscurely. -S: no site, nothing of the environment runs but the
 * interpreter; the working directory leaves sys.path, so a sysconfig.py of
 * the user's cannot answer for the interpreter. sysconfig (~10 ms) only
 * from 3.13, the first version with free-threaded builds. script may be NULL (-m).
 * Returns 0; 2 after the script's syntax error was printed; -1 after
 * printing why the probe gave no answer. */
static int probe_python(const char *python, const char *script, py_probe_t *pr)
{
    static const char code[] =
        "import sys\n"
        "sys.path[:] = [p for p in sys.path if p and p != '.']\n"
        "g = 0\n"
        "if sys.hexversion >= 0x030D0000:\n"
        "    try:\n"
        "        import sysconfig\n"
        "        g = sysconfig.get_config_var('Py_GIL_DISABLED')\n"
        "    except Exception:\n"
        "        pass\n"
        "i = getattr(sys, 'implementation', None)\n"
        "n = i and i.name or 'cpython'\n"
        "sys.stdout.write('%d %d %s\\n%s\\n' % (sys.hexversion, g and 1 or 0, n, sys.executable or ''))\n"
        "sys.stdout.flush()\n"
        "if len(sys.argv) > 3 and n == 'cpython' and not g and int(sys.argv[1]) <= sys.hexversion <= int(sys.argv[2]):\n"
        "    try:\n"
        "        compile(open(sys.argv[3], 'rb').read(), sys.argv[3], 'exec')\n"
        "    except SyntaxError as e:\n"
        "        sys.stderr.write('scalene: %s:%s: SyntaxError: %s\\n' % (e.filename, e.lineno, e.msg))\n"
        "        sys.exit(3)\n"
        "    except Exception as e:\n"
        "        sys.stderr.write('scalene: %s: %s\\n' % (sys.argv[3], e))\n"
        "        sys.exit(3)\n";
    char lo[16], hi[16];
    snprintf(lo, sizeof lo, "%u", REC_PY_MIN_HEX);
    snprintf(hi, sizeof hi, "%u", REC_PY_MAX_HEX);
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0) {
        user_error("cannot probe interpreter '%s': %s", python, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        user_error("cannot probe interpreter '%s': %s", python, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(fd[1], STDOUT_FILENO);
        execl(python, python, "-S", "-c", code, lo, hi, script, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char out[PATH_MAX + 128];
    size_t n = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool timed_out = false;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = AGG_PROBE_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p = {fd[0], POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue; /* timeout: the next turn kills it */
        ssize_t k = read(fd[0], out + n, sizeof out - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || (n += (size_t)k) == sizeof out - 1)
            break;
    }
    close(fd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    out[n] = 0;
    unsigned long hex = 0;
    int nogil = 0, used = 0;
    memset(pr, 0, sizeof *pr);
    if (!timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 3)
        return 2; /* the script does not compile: said on stderr */
    if (timed_out || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
        sscanf(out, "%lu %d %31s%n", &hex, &nogil, pr->impl, &used) != 3 || hex == 0) {
        char why[64];
        if (timed_out)
            snprintf(why, sizeof why, "no answer in %d s", AGG_PROBE_TIMEOUT_MS / 1000);
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            snprintf(why, sizeof why, "it printed no version");
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            snprintf(why, sizeof why, "exit status 127: it could not be started");
        else if (WIFEXITED(st))
            snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(st));
        else
            snprintf(why, sizeof why, "killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        user_error("'%s' does not answer as a Python interpreter (%s)", python, why);
        return -1;
    }
    pr->hex = (uint32_t)hex;
    pr->nogil = nogil != 0;
    const char *exe = out + used;
    if (*exe == '\n')
        exe++;
    size_t len = strcspn(exe, "\n");
    if (len < sizeof pr->exe)
        memcpy(pr->exe, exe, len);
    return 0;
}

/* "3.11" or "3.9 to 3.13": the versions in record.h's range. */
static void supported_versions(char *buf, size_t n)
{
    unsigned a = REC_PY_MIN_HEX >> 24, b = (REC_PY_MIN_HEX >> 16) & 0xff;
    unsigned c = REC_PY_MAX_HEX >> 24, d = (REC_PY_MAX_HEX >> 16) & 0xff;
    if (a == c && b == d)
        snprintf(buf, n, "%u.%u", a, b);
    else
        snprintf(buf, n, "%u.%u to %u.%u", a, b, c, d);
}

/* "3.12.1", "3.13.0rc2": sys.hexversion as Python prints its version. */
static void version_text(uint32_t hex, char *buf, size_t n)
{
    unsigned level = (hex >> 4) & 0xf, serial = hex & 0xf;
    const char *tag = level == 0xa ? "a" : level == 0xb ? "b" : level == 0xc ? "rc" : "";
    if (*tag)
        snprintf(buf, n, "%u.%u.%u%s%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff, tag, serial);
    else
        snprintf(buf, n, "%u.%u.%u", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
}

/* Refuses, with one line and exit status 2, an interpreter the runtime
 * cannot read: another implementation, a version outside record.h's range,
 * or a free-threaded build (its objects have another layout). `how` says
 * where the choice came from. Returns 0 when it can be profiled. */
static int check_python(const char *python, const char *how, const py_probe_t *pr)
{
    char ver[32], ok[48], real[PATH_MAX + 4] = "";
    version_text(pr->hex, ver, sizeof ver);
    supported_versions(ok, sizeof ok);
    /* a shim or wrapper (pyenv, asdf): name the interpreter it runs too */
    if (pr->exe[0] && strcmp(pr->exe, python) != 0)
        snprintf(real, sizeof real, " (%s)", pr->exe);
    bool cpython = strcmp(pr->impl, "cpython") == 0;
    if (cpython && pr->hex >= REC_PY_MIN_HEX && pr->hex <= REC_PY_MAX_HEX && !pr->nogil)
        return 0;
    char what[96];
    snprintf(what, sizeof what, "%s %s%s%s", cpython ? "Python" : pr->impl, ver, pr->nogil ? ", free-threaded" : "",
             cpython ? "" : ", not CPython");
    fprintf(stderr,
            "scalene: %s%s (%s) is %s, which scalene cannot profile: it profiles CPython %s (with the GIL); "
            "choose another with --python\n",
            python, real, how, what, ok);
    return 2;
}

static char *env_entry(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", k, v);
    return s;
}

/* The program's environment: ours, with the runtime prepended to
 * LD_PRELOAD and the segment's path; with disable_jit, the switches that
 * make JAX and PyTorch run Python code instead of compiled kernels (so its
 * lines can be profiled), overriding the caller's. */
static char **child_env(const char *lib, const char *shm, const char *self_dir, bool disable_jit)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 6, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    const char *old = getenv("LD_PRELOAD");
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "SCALENE_SHM=", 12) != 0 &&
            !(self_dir && *self_dir && strncmp(environ[i], "PYTHONPATH=", 11) == 0) &&
            !(disable_jit && (strncmp(environ[i], "JAX_DISABLE_JIT=", 16) == 0 ||
                              strncmp(environ[i], "PYTORCH_JIT=", 12) == 0)))
            env[k++] = environ[i];
    if (disable_jit) {
        env[k++] = env_entry("JAX_DISABLE_JIT", "1");
        env[k++] = env_entry("PYTORCH_JIT", "0");
    }
    /* SCALENE_PRELOAD_FIRST: a library that must precede the runtime (the
     * ASan runtime, for the sanitizer builds' end-to-end tests). */
    const char *first = getenv("SCALENE_PRELOAD_FIRST");
    char pre[PATH_MAX * 3];
    snprintf(pre, sizeof pre, "%s%s%s%s%s", first && *first ? first : "", first && *first ? ":" : "", lib,
             old && *old ? ":" : "", old ? old : "");
    env[k++] = env_entry("LD_PRELOAD", pre);
    env[k++] = env_entry("SCALENE_SHM", shm);
    /* our package first on the path, so the program can
     * `from scalene import scalene_profiler` without installing it */
    if (self_dir && *self_dir) {
        const char *pp = getenv("PYTHONPATH");
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/python%s%s", self_dir, pp && *pp ? ":" : "", pp ? pp : "");
        env[k++] = env_entry("PYTHONPATH", path);
    }
    env[k] = NULL;
    return env;
}

static const int fwd_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* A whole /proc file (environ, cmdline: NUL-separated, no size in stat)
 * into a malloc'd buffer; *n its length. NULL when it cannot be read. */
static char *proc_read(pid_t pid, const char *what, size_t *n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    for (ssize_t k; buf; len += (size_t)k) {
        if (len == cap) {
            char *b = cap < (1u << 22) ? realloc(buf, 2 * cap + 1) : NULL;
            if (!b)
                break; /* 4 MiB of environment: enough to judge by */
            buf = b;
            cap *= 2;
        }
        if ((k = read(fd, buf + len, cap - len)) <= 0)
            break;
    }
    close(fd);
    if (buf)
        buf[len] = 0;
    *n = len;
    return buf;
}

/* Does the NUL-separated block hold the entry "key=..." whose value
 * contains want (an exact value when exact)? */
static bool env_has(const char *env, size_t n, const char *key, const char *want, bool exact)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        if (strncmp(env + i, key, kl) == 0 && env[i + kl] == '=')
            return exact ? strcmp(env + i + kl + 1, want) == 0 : strstr(env + i + kl + 1, want) != NULL;
    return false;
}

/* The Python processes of the run that the runtime cannot see: a
 * descendant whose executable is a Python but whose environment lacks our
 * LD_PRELOAD or SCALENE_SHM (subprocess.run(..., env={}), `env -i`). It
 * sends no record, so only its existence is known: looked for every
 * AGG_SCAN_PERIOD_NS, or 100 times the CPU time the last look took, in the
 * process tree under us (/proc/P/task/T/children; a process that lives
 * less than that can be missed). Each is recorded
 * once, for the report's scalene_c.children_unprofiled. */
#define AGG_SCAN_SEEN 8192 /* judged images remembered (a power of 2) */

typedef struct agg_scan {
    rpt_child_t *v;
    size_t n, cap;
    const char *shm, *lib;
    /* Images already judged, by pid and where the kernel put their
     * environment (stat fields env_start, env_end: new at every execve),
     * so a process is read once per image, not once per scan (100 forked
     * workers: the aggregator's CPU went from 0.25 s to 0.4 s a run
     * without this). Open addressing; a full table only costs re-reads. */
    struct agg_seen {
        pid_t pid;
        unsigned long env_start, env_end;
    } seen[AGG_SCAN_SEEN];
} agg_scan_t;

/* The slot of pid in sc->seen (its own, or the free one to take), or NULL
 * when the table is full. */
static struct agg_seen *scan_slot(agg_scan_t *sc, pid_t pid)
{
    for (size_t k = 0, h = (size_t)pid * 2654435761u; k < AGG_SCAN_SEEN; k++) {
        struct agg_seen *e = &sc->seen[(h + k) & (AGG_SCAN_SEEN - 1)];
        if (e->pid == pid || e->pid == 0)
            return e;
    }
    return NULL;
}

/* env_start and env_end of pid's image (stat fields 50 and 51, Linux >=
 * 3.5), or -1. */
static int env_span(pid_t pid, unsigned long *start, unsigned long *end)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    if (!p)
        return -1;
    /* p + 2 is field 3; env_start is field 50 */
    p += 2;
    for (int f = 3; f < 50 && p; f++)
        p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
    return p && sscanf(p, "%lu %lu", start, end) == 2 ? 0 : -1;
}

static void scan_one(agg_scan_t *sc, pid_t pid, pid_t ppid)
{
    unsigned long es, ee;
    if (env_span(pid, &es, &ee) != 0)
        return;
    /* No memory map (stat shows 0 0): a process on its way out, whose
     * environ and cmdline read empty; it was judged while it lived. A
     * profiled parent caught there once read as "started with an empty
     * environment". */
    if (es == 0 && ee == 0)
        return;
    struct agg_seen *seen = scan_slot(sc, pid);
    if (seen && seen->pid == pid && seen->env_start == es && seen->env_end == ee)
        return; /* this image was judged */
    if (seen)
        *seen = (struct agg_seen){pid, es, ee};
    for (size_t i = 0; i < sc->n; i++)
        if (sc->v[i].pid == pid)
            return;
    char path[64], exe[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t k = readlink(path, exe, sizeof exe - 1);
    if (k <= 0)
        return;
    exe[k] = 0;
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    if (strncmp(base, "python", 6) != 0)
        return;
    size_t n = 0;
    char *env = proc_read(pid, "environ", &n);
    if (!env)
        return;
    if (n == 0 && es != ee) {
        free(env); /* it has an environment: its map went away as we read (exiting) */
        return;
    }
    const char *why = n == 0                                     ? "started with an empty environment"
                      : !env_has(env, n, "LD_PRELOAD", sc->lib, false) ? "started without the profiler in LD_PRELOAD"
                      : !env_has(env, n, "SCALENE_SHM", sc->shm, true) ? "started without this run's SCALENE_SHM"
                                                                     : NULL;
    free(env);
    if (!why)
        return; /* ours (or forked and not yet exec'd: looked at again next time) */
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 8;
        rpt_child_t *v = realloc(sc->v, cap * sizeof *v);
        if (!v)
            return;
        sc->v = v;
        sc->cap = cap;
    }
    rpt_child_t *c = &sc->v[sc->n];
    c->argv = proc_read(pid, "cmdline", &c->argv_len);
    if (!c->argv)
        return;
    c->pid = pid;
    c->ppid = ppid;
    c->why = why;
    sc->n++;
}

static void scan_tree(agg_scan_t *sc)
{
    pid_t q[AGG_SCAN_MAX], par[AGG_SCAN_MAX];
    size_t head = 0, tail = 0;
    q[tail] = getpid();
    par[tail++] = 0;
    for (; head < tail; head++) {
        if (head > 0)
            scan_one(sc, q[head], par[head]);
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/task", (int)q[head]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            char path[300];
            snprintf(path, sizeof path, "/proc/%d/task/%s/children", (int)q[head], e->d_name);
            FILE *f = fopen(path, "re");
            if (!f)
                continue;
            for (int c; tail < AGG_SCAN_MAX && fscanf(f, "%d", &c) == 1;) {
                q[tail] = c;
                par[tail++] = q[head];
            }
            fclose(f);
        }
        closedir(d);
    }
}

int agg_run(const agg_opts_t *o, bool *written)
{
    *written = false;
    char script[PATH_MAX] = "";
    if (!o->module) {
        if (!realpath(o->target, script))
            return user_error("cannot open program '%s': %s", o->target, strerror(errno));
        if (access(script, R_OK) != 0)
            return user_error("cannot read program '%s': %s", o->target, strerror(errno));
    }
    /* The interpreter is the user's: --python, else the one `python -m
     * scalene` runs under, else the script's #! Python, else the python3
     * that PATH gives (so an active venv or conda env), as a shell would.
     * It is run by the name chosen, never resolved: a venv is a venv only
     * by its bin/python's path, and a shim (pyenv) picks its interpreter. */
    const char *how;
    char *python = NULL;
    if (o->python) {
        how = "--python";
        if (!(python = which(o->python)))
            return user_error("cannot run interpreter '%s': %s", o->python,
                              strchr(o->python, '/') ? strerror(errno) : "not found on PATH");
    } else if (o->host_python) {
        how = "the interpreter of python -m scalene";
        if (!(python = which(o->host_python)))
            return user_error("cannot run interpreter '%s': %s", o->host_python, strerror(errno));
    } else if (!o->module && (python = shebang_python(script))) {
        how = "the script's #! line";
    } else {
        how = "python3 on PATH";
        if (!(python = which("python3")))
            return user_error("%s%s", "no python3 on PATH: name the interpreter with --python", "");
    }
    /* The report's place, before anything runs: a profile that cannot be
     * written is a run lost, and exit 2 at the end would hide the
     * program's own status. */
    int oc = sf_check(o->outfile);
    if (oc != 0) {
        free(python);
        return user_error("cannot write the report to '%s': %s", o->outfile, strerror(-oc));
    }
    py_probe_t probe;
    int pr = probe_python(python, o->module ? NULL : script, &probe);
    if (pr != 0)
        return 2;
    if (check_python(python, how, &probe) != 0)
        return 2;

    ring_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.interval_ns = (uint64_t)(o->interval_sec * 1e9);
    cfg.flags = (o->virtual_time ? RING_CFG_VIRTUAL : 0) | (o->profile_all ? RING_CFG_PROFILE_ALL : 0) |
                (o->cpu_only ? RING_CFG_CPU_ONLY : 0) | (o->profile_syslibs ? RING_CFG_SYSLIBS : 0) | (o->stacks || o->native ? RING_CFG_STACKS : 0) |
                (o->native ? RING_CFG_NATIVE : 0);
    /* --cpu-only wins over any window: the runtime reads 0 as "off" */
    cfg.alloc_window = o->cpu_only ? 0 : o->alloc_window;
    cfg.copy_window = o->cpu_only ? 0 : o->copy_window;
    char cwd[PATH_MAX] = "", dir[PATH_MAX] = "";
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = 0;
    if (!o->module) {
        snprintf(dir, sizeof dir, "%s", script);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = 0;
    }
    char pp[PATH_MAX] = "";
    if (o->program_path && !realpath(o->program_path, pp))
        return user_error("bad --program-path '%s': %s", o->program_path, strerror(errno));
    /* scope: --program-path, else the script's directory and the working
     * directory (an installed entry point such as /usr/bin/gunicorn runs
     * code from the working directory) */
    const char *scope1 = pp[0] ? pp : dir[0] ? dir : cwd, *scope2 = !pp[0] && dir[0] && strcmp(dir, cwd) ? cwd : "";
    if (strlen(scope1) + strlen(scope2) + 2 > sizeof cfg.scope || (o->self_dir && strlen(o->self_dir) >= sizeof cfg.self_dir))
        return user_error("paths too long: %s%s", scope1, scope2);
    strcpy(cfg.scope, scope1);
    if (scope2[0]) {
        strcat(cfg.scope, ":");
        strcat(cfg.scope, scope2);
    }
    strcpy(cfg.self_dir, o->self_dir ? o->self_dir : "");
    const char *only = o->profile_only ? o->profile_only : "", *excl = o->profile_exclude ? o->profile_exclude : "";
    if (strlen(only) >= sizeof cfg.only || strlen(excl) >= sizeof cfg.exclude)
        return user_error("patterns too long: %s%s", strlen(only) >= sizeof cfg.only ? "--profile-only" : "--profile-exclude", "");
    strcpy(cfg.only, only);
    strcpy(cfg.exclude, excl);

    int memfd;
    ring_seg_t *seg = ring_create(AGG_SLOTS, AGG_CAP, &cfg, &memfd);
    if (!seg) {
        fprintf(stderr, "scalene: cannot create the shared segment: %s\n", strerror(errno));
        return 2;
    }
    char shm[64];
    snprintf(shm, sizeof shm, "/proc/%d/fd/%d", (int)getpid(), memfd);
    if (o->off)
        ring_set_enabled(seg, false); /* until start() or `scalene control on` */

    /* Orphaned descendants (daemons, workers whose parent died) become our
     * children, so we can wait for every one of them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    sigset_t fwd, old;
    sigemptyset(&fwd);
    for (size_t i = 0; i < sizeof fwd_sigs / sizeof fwd_sigs[0]; i++)
        sigaddset(&fwd, fwd_sigs[i]);
    sigaddset(&fwd, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &fwd, &old);
    /* A signal ignored at generation is discarded even while blocked, and a
     * non-interactive shell starts background jobs with SIGINT ignored: take
     * the default here so sigtimedwait sees what is sent to us, and give the
     * program back the dispositions it would have had without us. */
    struct sigaction saved[sizeof fwd_sigs / sizeof fwd_sigs[0]], dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof fwd_sigs / sizeof fwd_sigs[0]; i++)
        sigaction(fwd_sigs[i], &dfl, &saved[i]);

    rcu_register_thread();
    tbl_t *tbl = tbl_new(ring_t0_ns(seg));
    if (tbl)
        tbl_mem_window(tbl, cfg.alloc_window);
    drn_t *drn = tbl ? drn_start(seg, tbl, 5000000ull) : NULL;
    if (!drn) {
        fprintf(stderr, "scalene: cannot start the drain: %s\n", strerror(errno));
        return 2;
    }

    struct timespec wall0;
    clock_gettime(CLOCK_REALTIME, &wall0);
    int tty = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp() ? STDIN_FILENO : -1;

    int nargv = 0;
    char **argv = calloc((size_t)o->nargs + 4, sizeof *argv);
    argv[nargv++] = (char *)python;
    if (o->module) {
        argv[nargv++] = "-m";
        argv[nargv++] = (char *)o->target;
    } else {
        argv[nargv++] = script;
    }
    for (int i = 0; i < o->nargs; i++)
        argv[nargv++] = o->args[i];
    char **env = child_env(o->runtime_lib, shm, o->self_dir, o->disable_jit);

    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "scalene: fork: %s\n", strerror(errno));
        return 2;
    }
    if (child == 0) {
        /* Dies with us, as with Scalene inside it: SIGTERM when this
         * thread (the one that forked; it lives until we exit) is gone,
         * even by SIGKILL. A parent already gone is checked after. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != self)
            _exit(128 + SIGTERM);
        setpgid(0, 0);
        if (tty >= 0) {
            signal(SIGTTOU, SIG_IGN);
            tcsetpgrp(tty, getpgrp());
            signal(SIGTTOU, SIG_DFL);
        }
        for (size_t i = 0; i < sizeof fwd_sigs / sizeof fwd_sigs[0]; i++)
            sigaction(fwd_sigs[i], &saved[i], NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        execve(python, argv, env);
        fprintf(stderr, "scalene: cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    setpgid(child, child); /* both sides, so neither races the other */
    tbl_set_main(tbl, child);
    /* GPU sampling starts after the fork: whatever NVML opens (device files,
     * threads) is then never inherited by the program. */
    bool gpu = o->gpu > 0 || (o->gpu == 0 && !o->cpu_only);
    const char *nvml_lib = o->nvml_lib ? o->nvml_lib : getenv("SCALENE_NVML_LIB");
    nv_t *nv = gpu ? nv_start(nvml_lib, AGG_GPU_PERIOD_NS) : NULL;
    if (gpu && !nv)
        fprintf(stderr, "scalene: cannot start GPU sampling: %s\n", strerror(errno));
    if (nv)
        drn_gpu(drn, nv);
    if (tty >= 0) {
        signal(SIGTTOU, SIG_IGN);
        tcsetpgrp(tty, child);
    }

    /* What the report says about the run: known now, but for its end (set
     * at each periodic write and at the end). */
    rpt_meta_t m;
    char stopped[128];
    memset(&m, 0, sizeof m);
    char progname[PATH_MAX + 8];
    snprintf(progname, sizeof progname, "%s%s", o->module ? "-m " : "", o->module ? o->target : script);
    m.program = progname;
    m.entrypoint_dir = o->module ? cwd : dir;
    m.args = o->args;
    m.nargs = o->nargs;
    m.python = python;
    char pyver[32];
    version_text(probe.hex, pyver, sizeof pyver);
    m.python_version = pyver;
    m.start_epoch = (double)wall0.tv_sec + (double)wall0.tv_nsec / 1e9;
    m.t0_ns = ring_t0_ns(seg);
    m.end_ns = tbl_now_ns();
    m.main_pid = child;
    m.interval_sec = o->interval_sec;
    m.virtual_time = o->virtual_time;
    m.cpu_percent_threshold = o->cpu_percent_threshold;
    m.reduced = o->reduced;
    m.malloc_threshold = o->malloc_threshold;
    m.stacks = o->stacks || o->native;
    m.native = o->native;
    m.no_leaks = o->no_leaks;
    m.unslotted = ring_unslotted(seg);
    m.memory = cfg.alloc_window != 0;
    m.alloc_window = cfg.alloc_window;
    m.copy_window = cfg.copy_window;
    m.nv = nv;
    m.gpu_off = !gpu ? (o->gpu < 0 ? "off (--no-gpu)" : "off (--cpu-only)") : "off (the sampler did not start)";
    m.gpu_period_sec = (double)AGG_GPU_PERIOD_NS / 1e9;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    m.ncpus = nc > 0 ? (int)nc : 1;
    /* issue 16: the host this run names in its report ($SCALENE_HOST lets
     * several runs on one machine, or containers, name themselves) */
    char hostname[256] = "localhost";
    const char *host_env = getenv("SCALENE_HOST");
    if (host_env && *host_env)
        snprintf(hostname, sizeof hostname, "%s", host_env);
    else if (gethostname(hostname, sizeof hostname - 1) != 0 || !hostname[0])
        snprintf(hostname, sizeof hostname, "localhost");
    hostname[sizeof hostname - 1] = 0;
    m.host = hostname;
    /* --profile-interval: the report rewritten while the program runs
     * (rpt_write renames a finished temporary file into place, so a reader
     * never sees half a file; the tables are read under RCU while the drain
     * goes on). */
    uint64_t period_ns = o->profile_interval > 0 ? (uint64_t)(o->profile_interval * 1e9) : 0;
    uint64_t next_report = period_ns ? tbl_now_ns() + period_ns : UINT64_MAX;
    int main_status = 0;
    bool main_done = false;
    uint64_t reaped = 0; /* descendants waited for: a bound on the segment's unslotted count */
    int interrupts_after_main = 0;
    int stop_sig = 0;          /* the signal that ended the wait early */
    uint64_t sig_ns[2] = {0, 0}; /* the two previous SIGINT/SIGTERM, older first */
    static agg_scan_t scan; /* 128 KiB: not on the stack */
    memset(&scan, 0, sizeof scan);
    scan.shm = shm;
    scan.lib = o->runtime_lib;
    uint64_t next_scan = 0;
    for (;;) {
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG | WUNTRACED)) > 0) {
            if (WIFSTOPPED(st)) {
                /* Ctrl-Z stopped the program: stop too, so the shell sees a
                 * stopped job; on fg, hand the terminal back and continue it. */
                if (r == child && tty >= 0) {
                    tcsetpgrp(tty, getpgrp());
                    raise(SIGSTOP);
                    tcsetpgrp(tty, child);
                    kill(-child, SIGCONT);
                }
                continue;
            }
            tbl_proc_end(tbl, r, true, st, tbl_now_ns());
            reaped++;
            if (r == child) {
                main_status = st;
                main_done = true;
            }
        }
        if (r < 0 && errno == ECHILD)
            break;
        if (tbl_now_ns() >= next_scan) {
            /* at most 1% of a CPU: 100 processes take ~3 ms a look (CPU
             * time, not wall: a loaded machine must not space the looks) */
            struct timespec c0, c1;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
            scan_tree(&scan);
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
            uint64_t took = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull + (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
            next_scan = tbl_now_ns() + (took * 100 > AGG_SCAN_PERIOD_NS ? took * 100 : AGG_SCAN_PERIOD_NS);
        }
        if (tbl_now_ns() >= next_report) {
            m.end_ns = tbl_now_ns();
            m.unslotted = ring_unslotted(seg);
            m.unprofiled = scan.v;
            m.nunprofiled = scan.n;
            int wr = rpt_write(tbl, &m, o->outfile);
            if (wr != 0 && !o->quiet)
                fprintf(stderr, "scalene: cannot write %s: %s\n", o->outfile, strerror(-wr));
            next_report = tbl_now_ns() + period_ns;
        }
        struct timespec to = {0, 100000000};
        siginfo_t si;
        int sig = sigtimedwait(&fwd, &si, &to);
        if (sig == SIGQUIT) {
            stop_sig = sig; /* not forwarded: the program is not ours to end */
            break;
        }
        if (sig > 0 && sig != SIGCHLD) {
            uint64_t now = tbl_now_ns();
            bool third = (sig == SIGINT || sig == SIGTERM) && sig_ns[0] && now - sig_ns[0] <= AGG_STOP_WINDOW_NS;
            if (sig == SIGINT || sig == SIGTERM) {
                sig_ns[0] = sig_ns[1];
                sig_ns[1] = now;
            }
            if (main_done && ++interrupts_after_main >= 2)
                break; /* stop waiting for lingering descendants */
            if (kill(-child, sig) != 0)
                kill(child, sig);
            if (third && !main_done) {
                stop_sig = sig; /* the program ignores them: stop waiting */
                break;
            }
        }
    }
    if (tty >= 0) {
        tcsetpgrp(tty, getpgrp());
        signal(SIGTTOU, SIG_DFL);
    }

    if (nv)
        nv_stop(nv); /* before drn_stop, which merges its last polls */
    /* stopped by signals: the program may run on; what it sent is in */
    int left = drn_stop(drn, stop_sig ? 100000000ull : 2000000000ull);
    if (o->gpu > 0 && !o->quiet) {
        nv_state_t *gs = nv ? malloc(sizeof *gs) : NULL;
        if (gs)
            nv_state(nv, gs);
        if (!gs || !gs->found)
            fprintf(stderr, "scalene: --gpu: no GPU sampled (%s)\n", gs ? gs->why : "the sampler did not start");
        free(gs);
    }
    m.end_ns = tbl_now_ns();
    /* The counter lives in the segment, which any process can overwrite;
     * every process that counted itself there is a descendant we reaped. */
    m.unslotted = ring_unslotted(seg);
    if (m.unslotted > reaped)
        m.unslotted = reaped;
    m.unprofiled = scan.v;
    m.nunprofiled = scan.n;
    if (stop_sig) {
        snprintf(stopped, sizeof stopped, "stopped by %s before the program ended (pid %d may still run)",
                 stop_sig == SIGQUIT ? "SIGQUIT" : stop_sig == SIGINT ? "a third SIGINT" : "a third SIGTERM", (int)child);
        m.stopped = stopped;
    }
    int rc = rpt_write(tbl, &m, o->outfile);
    *written = rc == 0;
    if (rc != 0)
        fprintf(stderr, "scalene: cannot write %s: %s\n", o->outfile, strerror(-rc));
    else if (!o->quiet)
        rpt_summary(tbl, &m, o->outfile, stderr);
    if (left > 0 && !o->quiet)
        fprintf(stderr, "scalene: %d process(es) still running; their data so far is in the report\n", left);
    if (stop_sig)
        fprintf(stderr, "scalene: %s; the report has what it sent so far\n", stopped);

    tbl_free(tbl);
    nv_free(nv);
    rcu_unregister_thread();
    ring_destroy(seg);
    close(memfd);
    free(argv);
    free(python);
    for (size_t i = 0; i < scan.n; i++)
        free(scan.v[i].argv);
    free(scan.v);
    if (stop_sig)
        return 128 + stop_sig;
    if (rc != 0)
        return 2;
    if (WIFSIGNALED(main_status))
        return 128 + WTERMSIG(main_status);
    return WEXITSTATUS(main_status);
}
