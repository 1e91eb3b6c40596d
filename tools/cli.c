/* SPDX-License-Identifier: Apache-2.0
 * cli.c — the `scalene` command: `scalene run [options] prog.py [--- args]`,
 * `scalene run [options] -m module [args]`, `scalene view ...`. Parses
 * Scalene's options and hands over to aggregator/agg.c or tools/view.c.
 * A user error is one line on stderr and exit status 2.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "cfg.h"
#include "ring.h"
#include "view.h"

#define CLI_VERSION "0.1.0"

static const char usage_top[] = "usage: scalene run [options] prog.py [--- args...]\n"
                                "       scalene run [options] -m module [args...]\n"
                                "       scalene view [--html|--standalone|--cli|--collapsed|--speedscope] [options] [profile.json]\n"
                                "       scalene control on|off PID\n"
                                "       scalene --version\n";

static const char usage_run[] =
    "usage: scalene run [options] prog.py [--- args...]\n"
    "       scalene run [options] -m module [args...]\n"
    "\n"
    "Profiles a Python program and every Python process it starts; writes one JSON report.\n"
    "\n"
    "options:\n"
    "  -h, --help                 show this help and exit\n"
    "  --help-advanced            show the advanced options too\n"
    "  -c, --config FILE          read options from a YAML file (docs/CONFIG.md); the command line wins\n"
    "  -o, --outfile FILE         report path (default: scalene-profile.json); checked before the program\n"
    "                             starts\n"
    "  --json                     write the JSON report to the --outfile path (always done; accepted for\n"
    "                             Scalene's command lines)\n"
    "  --cli                      after the run, print the report's terminal view (scalene view --cli)\n"
    "  --html                     after the run, write the web page beside the report\n"
    "                             (scalene-profile.html, as scalene view --html)\n"
    "  --web                      after the run, serve the web page on 127.0.0.1 and open a browser\n"
    "                             (scalene view), until Ctrl-C\n"
    "  --no-browser               with --web: serve and print the URL, start no browser\n"
    "  --cpu-only                 profile CPU time only (no memory, no copy volume)\n"
    "  --memory                   profile memory too (the default)\n"
    "  --gpu                      profile NVIDIA GPU use too, also with --cpu-only (default: on when\n"
    "                             NVML finds a GPU, unless --cpu-only); --no-gpu turns it off\n"
    "  --off                      start with profiling off: scalene_profiler.start() in the program,\n"
    "                             or `scalene control on PID` from outside, turns it on\n"
    "  --on                       start with profiling on (the default; overrides an earlier --off)\n"
    "  --python PYTHON            interpreter to run, a path or a name in PATH (default: the one running\n"
    "                             `python -m scalene`, else the script's #! Python, else python3 from PATH);\n"
    "                             one that cannot be profiled is refused before the program runs\n"
    "  -m MODULE                  run a module, as python -m; everything after it is the module's\n"
    "  ---                        everything after it is the program's arguments\n";

static const char usage_adv[] =
    "\nadvanced options:\n"
    "  --cpu-sampling-rate SEC    mean seconds between CPU samples (default: 0.01)\n"
    "  --use-virtual-time         count CPU time only, not time spent waiting\n"
    "  --profile-all              profile every file, the standard library and packages too\n"
    "  --program-path DIR         profile files under DIR (default: the program's directory and the\n"
    "                             working directory)\n"
    "  --profile-only A,B         profile only files whose path contains one of these strings\n"
    "                             (packages and the standard library included when they match)\n"
    "  --profile-exclude X,Y      never profile files whose path contains one of these strings\n"
    "  --profile-system-libraries also profile the standard library and installed packages\n"
    "  --reduced-profile          report only lines and functions above the thresholds\n"
    "  --profile-interval SEC     rewrite the report every SEC seconds while the program runs\n"
    "  --stacks                   record the Python call stack of every CPU sample (report: stacks,\n"
    "                             combined_stacks, processes[].stacks; exported by scalene view);\n"
    "                             --no-stacks turns it off (the default)\n"
    "  --native                   --stacks with the C frames (libunwind) under a Python line\n"
    "                             that runs C code; the thread answers a real-time signal to unwind\n"
    "  --malloc-threshold N       allocation samples that make a line or file count as allocating\n"
    "                             (default: 1)\n"
    "  --cpu-percent-threshold N  report files with at least N% of the time (default: 1)\n"
    "  --allocation-sampling-window BYTES\n"
    "                             mean bytes allocated between memory samples (default: 1048576)\n"
    "  --no-memory-leak-detector  do not judge likely leaks (files get empty `leaks`);\n"
    "                             --memory-leak-detector turns it back on (the default)\n"
    "  --disable-jit              run JAX and PyTorch code as Python (JAX_DISABLE_JIT=1, PYTORCH_JIT=0)\n"
    "  --no-async                 accepted: asyncio tasks are not profiled separately (--async is an error)\n"
    "  --nvml-lib PATH            NVML library to load (default: $SCALENE_NVML_LIB, else libnvidia-ml.so.1)\n"
    "  -q, --quiet                print no summary\n";

/* SCALENE_INVOKING_PYTHON, set by `python -m scalene` (sys.executable). */
static const char *host_python;

static int bad(const char *fmt, const char *a)
{
    fprintf(stderr, "scalene: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    return 2;
}

/* <prefix>/lib/scalene for this executable's <prefix>/bin/scalene: the
 * runtime and the web view's files are found relative to it, so
 * build/bin/scalene works without `make install`. */
static int self_libdir(char *libdir, size_t n)
{
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0)
        return -1;
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    slash = strrchr(exe, '/');
    if (slash)
        *slash = 0; /* the prefix: build/ or /usr/local */
    if (strlen(exe) + 32 > n)
        return -1;
    strcpy(libdir, exe);
    strcat(libdir, "/lib/scalene");
    return 0;
}

static int self_paths(char *lib, char *libdir, size_t n)
{
    if (self_libdir(libdir, n) != 0)
        return -1;
    strcpy(lib, libdir);
    strcat(lib, "/libscalene.so");
    return access(lib, R_OK) == 0 ? 0 : -1;
}

static int parse_double(const char *opt, const char *v, double *out, double min)
{
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || errno || *end || d < min)
        return bad("bad value for %s", opt);
    *out = d;
    return 0;
}

/* A window in bytes: a positive integer. */
static int parse_window(const char *opt, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = v && *v != '-' ? strtoull(v, &end, 10) : 0;
    if (!v || *v == '-' || *v == 0 || errno || *end || n == 0) {
        fprintf(stderr, "scalene: bad value for %s: '%s' (a positive number of bytes)\n", opt, v ? v : "");
        return 2;
    }
    *out = n;
    return 0;
}

/* `scalene view [mode] report`, as run by `scalene run --cli/--html/--web`.
 * mode NULL: the served web page. Returns vw_main's status. */
static int view_report(const char *mode, const char *report, const char *libdir)
{
    char *argv[4];
    int argc = 0;
    argv[argc++] = "view";
    if (mode)
        argv[argc++] = (char *)mode;
    argv[argc++] = (char *)report;
    argv[argc] = NULL;
    return vw_main(argc, argv, libdir);
}

static int cmd_run(int argc, char **argv)
{
    /* -c FILE: its options go in ahead of the command line's, which win;
     * every --option=VALUE arrives as two words */
    if (cfg_expand(&argc, &argv) != 0)
        return 2;
    agg_opts_t o;
    memset(&o, 0, sizeof o);
    o.outfile = "scalene-profile.json";
    o.interval_sec = 0.01;
    o.cpu_percent_threshold = 1.0;
    o.alloc_window = AGG_ALLOC_WINDOW_DEFAULT;
    o.copy_window = AGG_COPY_WINDOW_DEFAULT;
    o.malloc_threshold = 1;
    bool v_cli = false, v_html = false, v_web = false, v_nobrowser = false; /* views after the run */
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o.target && strcmp(a, "---") == 0) {
            i++;
            break;
        }
        if (o.target && a[0] != '-')
            break; /* the program's own arguments */
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_run, stdout);
            return 0;
        } else if (strcmp(a, "--help-advanced") == 0) {
            fputs(usage_run, stdout);
            fputs(usage_adv, stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--outfile") == 0) {
            if (!v)
                return bad("%s needs a file name", a);
            o.outfile = v;
            i++;
        } else if (strcmp(a, "--json") == 0) {
            /* the report is always JSON, at -o: nothing to switch */
        } else if (strcmp(a, "--cli") == 0) {
            v_cli = true;
        } else if (strcmp(a, "--html") == 0) {
            v_html = true;
        } else if (strcmp(a, "--web") == 0) {
            v_web = true;
        } else if (strcmp(a, "--no-browser") == 0) {
            v_nobrowser = true;
        } else if (strcmp(a, "--cpu-only") == 0) {
            o.cpu_only = true; /* agg_run turns both windows off */
        } else if (strcmp(a, "--memory") == 0) {
            o.cpu_only = false; /* the later of --memory and --cpu-only wins */
        } else if (strcmp(a, "--gpu") == 0 || strcmp(a, "--no-gpu") == 0) {
            o.gpu = a[2] == 'g' ? 1 : -1; /* the later one wins; --gpu also beats --cpu-only */
        } else if (strcmp(a, "--nvml-lib") == 0) {
            if (!v || !*v)
                return bad("%s needs a path", a);
            o.nvml_lib = v;
            i++;
        } else if (strcmp(a, "--allocation-sampling-window") == 0) {
            if (parse_window(a, v, &o.alloc_window))
                return 2;
            i++;
        } else if (strcmp(a, "--use-virtual-time") == 0) {
            o.virtual_time = true;
        } else if (strcmp(a, "--profile-only") == 0 || strcmp(a, "--profile-exclude") == 0) {
            if (!v || !*v)
                return bad("%s needs a comma-separated list of strings", a);
            if (a[10] == 'o')
                o.profile_only = v;
            else
                o.profile_exclude = v;
            i++;
        } else if (strcmp(a, "--profile-interval") == 0) {
            if (parse_double(a, v, &o.profile_interval, 0.001))
                return 2;
            i++;
        } else if (strcmp(a, "--profile-system-libraries") == 0) {
            o.profile_syslibs = true;
        } else if (strcmp(a, "--stacks") == 0) {
            o.stacks = true;
        } else if (strcmp(a, "--no-stacks") == 0) {
            o.stacks = false;
            o.native = false;
        } else if (strcmp(a, "--memory-leak-detector") == 0) {
            o.no_leaks = false;
        } else if (strcmp(a, "--no-memory-leak-detector") == 0) {
            o.no_leaks = true;
        } else if (strcmp(a, "--disable-jit") == 0) {
            o.disable_jit = true;
        } else if (strcmp(a, "--no-async") == 0) {
            /* what this profiler always does */
        } else if (strcmp(a, "--async") == 0) {
            return bad("%s: asyncio task profiling is not supported (await time counts as the awaiting line's)", a);
        } else if (strcmp(a, "--native") == 0) {
            o.native = true;
        } else if (strcmp(a, "--reduced-profile") == 0) {
            o.reduced = true;
        } else if (strcmp(a, "--malloc-threshold") == 0) {
            double d;
            if (parse_double(a, v, &d, 0))
                return 2;
            if (d != (double)(uint64_t)d)
                return bad("bad value for %s (a whole number of samples)", a);
            o.malloc_threshold = (uint64_t)d;
            i++;
        } else if (strcmp(a, "--off") == 0) {
            o.off = true;
        } else if (strcmp(a, "--on") == 0) {
            o.off = false;
        } else if (strcmp(a, "--profile-all") == 0) {
            o.profile_all = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(a, "--python") == 0) {
            if (!v)
                return bad("%s needs a path", a);
            o.python = v;
            i++;
        } else if (strcmp(a, "--program-path") == 0) {
            if (!v)
                return bad("%s needs a directory", a);
            o.program_path = v;
            i++;
        } else if (strcmp(a, "--cpu-sampling-rate") == 0) {
            if (parse_double(a, v, &o.interval_sec, 0.0005))
                return 2;
            i++;
        } else if (strcmp(a, "--cpu-percent-threshold") == 0) {
            if (parse_double(a, v, &o.cpu_percent_threshold, 0))
                return 2;
            i++;
        } else if (strcmp(a, "-m") == 0 && !o.target) {
            if (!v)
                return bad("%s needs a module name", a);
            o.target = v;
            o.module = true;
            i += 2;
            break; /* everything after the module is the module's */
        } else if (strcmp(a, "---") == 0 && !o.target) {
            /* `scalene run [opts] --- -m mod args` / `--- prog.py args` */
            if (v && strcmp(v, "-m") == 0 && i + 2 < argc) {
                o.target = argv[i + 2];
                o.module = true;
                i += 3;
            } else if (v) {
                o.target = v;
                i += 2;
            } else {
                return bad("%s", "no program given after ---");
            }
            break;
        } else if (a[0] == '-' && a[1] != 0 && o.target) {
            break; /* not ours, after the program: the program's own option */
        } else if (a[0] == '-' && a[1] != 0) {
            return bad("unknown option '%s' (see scalene run --help)", a);
        } else if (!o.target) {
            o.target = a;
        }
    }
    if (!o.target)
        return bad("%s", "no program to run (usage: scalene run [options] prog.py [--- args])");
    /* after the script: an explicit --- may still come */
    if (i < argc && strcmp(argv[i], "---") == 0)
        i++;
    o.args = argv + i;
    o.nargs = argc - i;
    static char lib[PATH_MAX], libdir[PATH_MAX];
    if (self_paths(lib, libdir, sizeof lib) != 0)
        return bad("%s", "cannot find the runtime library libscalene.so next to this program (build with make)");
    /* `python -m scalene` names its interpreter here (tools/python/
     * scalene/__main__.py); main() takes it out of the environment so the
     * program and its children never see it. */
    o.host_python = host_python && *host_python ? host_python : NULL;
    o.runtime_lib = lib;
    o.self_dir = libdir;
    if ((v_cli || v_html || v_web) && strcmp(o.outfile, "-") == 0)
        return bad("%s", "--cli, --html and --web show the report file: give -o a file, not -");
    bool wrote = false;
    int st = agg_run(&o, &wrote);
    if (!wrote || !(v_cli || v_html || v_web))
        return st;
    /* The views of `scalene view`, on the report just written; the
     * program's status wins, a failed view only turns a 0 into its own. */
    fflush(stdout);
    int vs = 0;
    if (v_cli)
        vs = view_report("--cli", o.outfile, libdir);
    if (v_html && vs == 0)
        vs = view_report("--html", o.outfile, libdir);
    if (v_web && vs == 0)
        vs = view_report(v_nobrowser ? "--no-browser" : NULL, o.outfile, libdir);
    return st != 0 ? st : vs;
}

/* The segment of a `scalene run` process: the memfd it created
 * ("/memfd:scalene-ring"), as a path another process can map
 * ("/proc/PID/fd/N"). Returns 0, or -1 when PID holds none (or its fds are
 * not this user's to see). */
static int run_segment(long pid, char *path, size_t n)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int rc = -1;
    for (struct dirent *e; rc != 0 && (e = readdir(d));) {
        char fd[320], target[128];
        snprintf(fd, sizeof fd, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(fd, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = 0;
        if (strncmp(target, "/memfd:scalene-ring", 19) == 0 && snprintf(path, n, "%s", fd) < (int)n)
            rc = 0;
    }
    closedir(d);
    return rc;
}

/* `scalene control on|off PID`: flips the profiling switch of the run that
 * PID belongs to: PID is `scalene run` itself (`scalene run --off prog.py &`
 * then `$!`), whose segment is one of its fds, or any process of the run,
 * whose environment names the segment (SCALENE_SHM). The switch is one flag
 * in the segment's header, read by every sampler and hook of the run: no
 * signal is sent to anyone. Each message says what was found where. */
static int cmd_control(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
        return bad("%s", "usage: scalene control on|off PID");
    char *end;
    errno = 0;
    long pid = strtol(argv[2], &end, 10);
    if (*end || pid <= 0 || errno)
        return bad("bad pid '%s'", argv[2]);
    char path[64], comm[64] = "?", seg_path[320];
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return bad("no process %s (none that this user can see)", argv[2]);
    if (fgets(comm, sizeof comm, f))
        comm[strcspn(comm, "\n")] = 0;
    fclose(f);
    const char *how = NULL;
    if (run_segment(pid, seg_path, sizeof seg_path) == 0) {
        how = "scalene run";
    } else {
        static char env[1 << 20];
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        f = fopen(path, "r");
        if (!f)
            return bad("process %s: cannot read its environment (another user's?)", argv[2]);
        size_t n = fread(env, 1, sizeof env - 1, f);
        fclose(f);
        env[n] = 0;
        for (size_t i = 0; i < n; i += strlen(env + i) + 1)
            if (strncmp(env + i, "SCALENE_SHM=", 12) == 0)
                snprintf(seg_path, sizeof seg_path, "%s", env + i + 12), how = "its SCALENE_SHM";
        if (!how) {
            fprintf(stderr, "scalene: process %ld (%s) is not running under scalene: no SCALENE_SHM in its environment, "
                            "and it is not a scalene run (it holds no profiling segment)\n", pid, comm);
            return 2;
        }
    }
    ring_seg_t *seg = ring_attach(seg_path);
    if (!seg) {
        fprintf(stderr, "scalene: process %ld (%s): the segment %s (found through %s) cannot be mapped: %s; the run has ended\n",
                pid, comm, seg_path, how, strerror(errno));
        return 2;
    }
    bool on = strcmp(argv[1], "on") == 0;
    ring_set_enabled(seg, on);
    ring_destroy(seg);
    if (strcmp(how, "scalene run") == 0)
        fprintf(stderr, "scalene: profiling %s for the run of `scalene run` process %ld (segment %s): every process of it\n",
                on ? "on" : "off", pid, seg_path);
    else
        fprintf(stderr, "scalene: profiling %s for the run that process %ld (%s) belongs to (segment %s, named in its "
                        "SCALENE_SHM): every process of it\n", on ? "on" : "off", pid, comm, seg_path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *hp = getenv("SCALENE_INVOKING_PYTHON");
    if (hp) {
        host_python = strdup(hp);
        unsetenv("SCALENE_INVOKING_PYTHON");
    }
    if (argc < 2) {
        fputs(usage_top, stderr);
        return 2;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "view") == 0) {
        static char libdir[PATH_MAX];
        int vargc = argc - 1;
        char **vargv = argv + 1;
        /* -c FILE: the ai-* keys (tools/cfg.c), ahead of the command line's */
        if (cfg_expand(&vargc, &vargv) != 0)
            return 2;
        return vw_main(vargc, vargv, self_libdir(libdir, sizeof libdir) == 0 ? libdir : NULL);
    }
    if (strcmp(argv[1], "control") == 0)
        return cmd_control(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0) {
        printf("scalene (C) %s\n", CLI_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_top, stdout);
        return 0;
    }
    if (strlen(argv[1]) > 3 && strcmp(argv[1] + strlen(argv[1]) - 3, ".py") == 0)
        return bad("missing command: did you mean 'scalene run %s'?", argv[1]);
    return bad("unknown command '%s' (commands: run, view, control)", argv[1]);
}
