/* SPDX-License-Identifier: Apache-2.0
 * rt.h — the preload runtime's entry: a constructor that joins the process
 * to the shared segment, and the libc functions it interposes (exit paths
 * and wait family) to record how processes end. It has no callable API: the
 * loader runs it. Environment it reads: SCALENE_SHM (path of the segment).
 */
#ifndef SCALENE_RT_H
#define SCALENE_RT_H
#endif
