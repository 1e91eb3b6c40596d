#!/bin/sh
# Shape checks: the include graph and the runtime's exported symbols.
set -eu
fail=0
# aggregator/ and tools/ may include only the wire contract from runtime/
bad=$(grep -Hn '#include "' aggregator/*.c aggregator/*.h tools/*.c tools/*.h |
      grep -vE '"(ring|record|agg|drn|tbl|stk|rpt|safefile|nv|view|gui|cfg|exp|ai|merge|pprof|jsonv|profile\.pb-c)\.h"' || true)
if [ -n "$bad" ]; then echo "lint: cross-folder include:"; echo "$bad"; fail=1; fi
# runtime/ exports only the libc functions it interposes
lib=${1:-build/lib/scalene/libscalene.so}
if [ -f "$lib" ]; then
  extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' |
          grep -vxE '_exit|_Exit|exit|wait|waitpid|wait4|waitid|PyInit__scalene|malloc|calloc|realloc|free|reallocarray|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|memcpy|memmove|mempcpy|__memcpy_chk|__memmove_chk|__mempcpy_chk' || true)
  if [ -n "$extra" ]; then echo "lint: unexpected exports from $lib:"; echo "$extra"; fail=1; fi
fi
[ $fail = 0 ] && echo "lint: ok"
exit $fail
