#!/bin/sh
# mvc __MVC_HOOK__ hook, installed by `mvc install-hooks`; `mvc uninstall-hooks` removes it.
# A hook that was here before is kept as __MVC_HOOK__.pre-mvc and still runs first; its exit
# status still counts. The hook does nothing in a repository without .mvc/.
hook=__MVC_HOOK__
recorded='__MVC_PATH__'
hookdir=$(dirname "$0")
# pre-push and post-rewrite read lines on standard input: read once, given to both hooks.
case $hook in pre-push|post-rewrite) reads_input=1; input=$(cat) ;; *) reads_input= ;; esac
if [ -x "$hookdir/$hook.pre-mvc" ]; then
  if [ -n "$reads_input" ]; then
    printf '%s\n' "$input" | "$hookdir/$hook.pre-mvc" "$@" || exit $?
  else
    "$hookdir/$hook.pre-mvc" "$@" || exit $?
  fi
fi
top=$(git rev-parse --show-toplevel 2>/dev/null) || exit 0
[ -d "$top/.mvc" ] || exit 0
if command -v mvc >/dev/null 2>&1; then
  mvc=mvc
elif [ -x "$recorded" ]; then
  mvc=$recorded
else
  if [ "$hook" = pre-push ]; then
    echo "mvc pre-push hook: mvc is not on PATH nor at $recorded, so the weights this push needs cannot be sent; push blocked ('git push --no-verify' bypasses it)" >&2
    exit 1
  fi
  echo "mvc $hook hook: mvc is not on PATH nor at $recorded; mvc's checks and weight updates were skipped" >&2
  exit 0
fi
if [ -n "$reads_input" ]; then
  printf '%s\n' "$input" | "$mvc" hook "$hook" "$@"
else
  exec "$mvc" hook "$hook" "$@"
fi
