/* SPDX-License-Identifier: Apache-2.0
 * agg.c — `scalene run` (see agg.h).
 *
 * Signals. The program runs in its own process group. When our terminal is
 * ours to give, the program's group gets the foreground, so Ctrl-C, Ctrl-\
 * and Ctrl-Z reach the program exactly as without the profiler and never
 * reach us. SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to us are forwarded to the
 * program's group, as a terminal would. We block them and take them with
 * sigtimedwait, so no handler runs in this process at all.
 */
#include "agg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>

#include "drn.h"
#include "nv.h"
#include "ring.h"
#include "rpt.h"
#include "tbl.h"

#define AGG_SLOTS 512
#define AGG_CAP 4096
#define AGG_DEFAULT_PYTHON "/usr/bin/python3"

extern char **environ;

static int user_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "scalene: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 2;
}

/* The interpreter a script names in its "#!" line, if that is a Python:
 * "#!/usr/bin/python3 -u" or "#!/usr/bin/env python3". Returns a malloc'd
 * path or NULL. */
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
        if (w && strncmp(base, "python", 6) == 0) {
            if (w[0] == '/') {
                res = strdup(w);
            } else {
                const char *path = getenv("PATH");
                char *p = strdup(path ? path : "/usr/bin:/bin"), *s2 = NULL;
                for (char *d = strtok_r(p, ":", &s2); d && !res; d = strtok_r(NULL, ":", &s2)) {
                    char cand[PATH_MAX];
                    snprintf(cand, sizeof cand, "%s/%s", d, w);
                    if (access(cand, X_OK) == 0)
                        res = strdup(cand);
                }
                free(p);
            }
        }
    }
    fclose(f);
    return res;
}

/* Compiles the script in a throwaway interpreter (no site, no profiler) so
 * a syntax error is one clear line instead of a run. Returns 0 if it
 * compiles, 2 after printing the error, -1 if the check itself failed. */
static int syntax_check(const char *python, const char *script)
{
    static const char code[] =
        "import sys\n"
        "try:\n"
        "    compile(open(sys.argv[1],'rb').read(), sys.argv[1], 'exec')\n"
        "except SyntaxError as e:\n"
        "    sys.stderr.write('scalene: %s:%s: SyntaxError: %s\\n' % (e.filename, e.lineno, e.msg)); sys.exit(3)\n"
        "except Exception as e:\n"
        "    sys.stderr.write('scalene: %s: %s\\n' % (sys.argv[1], e)); sys.exit(3)\n";
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(python, python, "-I", "-S", "-c", code, script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
        return 2;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
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

int agg_run(const agg_opts_t *o)
{
    char script[PATH_MAX] = "";
    if (!o->module) {
        if (!realpath(o->target, script))
            return user_error("cannot open program '%s': %s", o->target, strerror(errno));
        if (access(script, R_OK) != 0)
            return user_error("cannot read program '%s': %s", o->target, strerror(errno));
    }
    char *shebang = (!o->python && !o->module) ? shebang_python(script) : NULL;
    const char *python = o->python ? o->python : shebang ? shebang : AGG_DEFAULT_PYTHON;
    if (access(python, X_OK) != 0)
        return user_error("cannot run interpreter '%s': %s", python, strerror(errno));
    if (!o->module) {
        int sc = syntax_check(python, script);
        if (sc == 2)
            return 2;
    }

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

    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "scalene: fork: %s\n", strerror(errno));
        return 2;
    }
    if (child == 0) {
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
    memset(&m, 0, sizeof m);
    char progname[PATH_MAX + 8];
    snprintf(progname, sizeof progname, "%s%s", o->module ? "-m " : "", o->module ? o->target : script);
    m.program = progname;
    m.entrypoint_dir = o->module ? cwd : dir;
    m.args = o->args;
    m.nargs = o->nargs;
    m.python = python;
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
        if (tbl_now_ns() >= next_report) {
            m.end_ns = tbl_now_ns();
            m.unslotted = ring_unslotted(seg);
            int wr = rpt_write(tbl, &m, o->outfile);
            if (wr != 0 && !o->quiet)
                fprintf(stderr, "scalene: cannot write %s: %s\n", o->outfile, strerror(-wr));
            next_report = tbl_now_ns() + period_ns;
        }
        struct timespec to = {0, 100000000};
        siginfo_t si;
        int sig = sigtimedwait(&fwd, &si, &to);
        if (sig > 0 && sig != SIGCHLD) {
            if (main_done && ++interrupts_after_main >= 2)
                break; /* stop waiting for lingering descendants */
            if (kill(-child, sig) != 0)
                kill(child, sig);
        }
    }
    if (tty >= 0) {
        tcsetpgrp(tty, getpgrp());
        signal(SIGTTOU, SIG_DFL);
    }

    if (nv)
        nv_stop(nv); /* before drn_stop, which merges its last polls */
    int left = drn_stop(drn, 2000000000ull);
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
    int rc = rpt_write(tbl, &m, o->outfile);
    if (rc != 0)
        fprintf(stderr, "scalene: cannot write %s: %s\n", o->outfile, strerror(-rc));
    else if (!o->quiet)
        rpt_summary(tbl, &m, o->outfile, stderr);
    if (left > 0 && !o->quiet)
        fprintf(stderr, "scalene: %d process(es) still running; their data so far is in the report\n", left);

    tbl_free(tbl);
    nv_free(nv);
    rcu_unregister_thread();
    ring_destroy(seg);
    close(memfd);
    free(argv);
    free(shebang);
    if (rc != 0)
        return 2;
    if (WIFSIGNALED(main_status))
        return 128 + WTERMSIG(main_status);
    return WEXITSTATUS(main_status);
}
