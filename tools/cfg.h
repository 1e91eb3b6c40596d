/* SPDX-License-Identifier: Apache-2.0
 * cfg.h — `scalene run -c FILE` / `--config FILE`: a YAML mapping of
 * `option: value` (libyaml) turned into long options. tools/cli.c calls it
 * before parsing, so its own parser judges every value a second time and
 * the command line, which comes after the file's options, wins. cfg.c's
 * key table is the one list of the options a file may set and their types.
 */
#ifndef SCALENE_CFG_H
#define SCALENE_CFG_H

/* Splits each `--option=VALUE` of scalene's own options into two words
 * (so every option takes either spelling) and removes each `-c FILE`,
 * `--config FILE` and `--config=FILE` that stands
 * among `scalene run`'s own options (never the program's: scanning stops at
 * the program's first argument, at `---`, at `-m` and at an option that is
 * not scalene's after the script) and puts the files' options, in file
 * order, right after argv[0]. (*argvp)[0] is `run`, or `view`: then only
 * the view's keys (ai-*) are taken from the files, the run's are skipped
 * (one file may serve both), and every word but `--`'s followers is
 * scanned. Without -c or --option=VALUE nothing
 * changes. Returns 0, or -EINVAL after printing one line on stderr (missing
 * file, YAML error, unknown key, wrong type; the line names file, line and
 * key), or -ENOMEM. The new vector and its strings live until exit, as
 * agg_opts_t borrows from them. Context: thread. */
int cfg_expand(int *argcp, char ***argvp);

#endif
