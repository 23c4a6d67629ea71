#!/usr/bin/env bash
# The install tests (CTest install.*, tests/CMakeLists.txt): what `cmake --install`, scripts/install.sh
# and `cpack -G DEB` produce, used the way a user would use it.
#   install_tests.sh CASE SOURCE_DIR BUILD_DIR
# Work files go to BUILD_DIR/install-test/ (under /work, so that ccache serves the out-of-tree builds).
set -euo pipefail
case_name="$1"
src="$(cd "$2" && pwd)"
build="$(cd "$3" && pwd)"
work="$build/install-test"
prefix="$work/prefix"
debs="$work/debs"
ver="$(sed -n 's/^#define MVC_VERSION_STRING "\(.*\)"/\1/p' "$build/generated/include/mvc/version.h")"
PY=/usr/bin/python3

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
expect_eq() {  # expect_eq WHAT ACTUAL EXPECTED
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}
expect_has() {  # expect_has WHAT TEXT NEEDLE
  case "$2" in *"$3"*) ;; *) fail "$1: '$3' not in: $2" ;; esac
}
expect_lacks() {
  case "$2" in *"$3"*) fail "$1: '$3' should not be in: $2" ;; *) ;; esac
}

# A git repository with one model version committed by the installed mvc (tag clf-v1), trained by
# the out-of-tree mvc-example. Prints its path.
make_repo() {
  local repo="$1" bin="$2"
  rm -rf "$repo" && mkdir -p "$repo" && cd "$repo"
  git init -q -b main
  git config user.name "Install Test" && git config user.email "install@example.com"
  "$prefix/bin/mvc" init >/dev/null
  mkdir -p models/clf && cp "$src/examples/quickstart/model/"*.toml models/clf/
  "$bin/mvc-example" train models/clf --steps 5 --seed 0 >/dev/null
  "$prefix/bin/mvc" commit models/clf -m v1 --tag clf-v1 >/dev/null
}

case "$case_name" in
  prefix)  # fixture: cmake --install into a temporary prefix; what lands where
    rm -rf "$prefix" && mkdir -p "$work"
    # scripts/install.sh, as the README's set-up runs it, with MVC_PREFIX.
    expect_eq "scripts/install.sh" "$(MVC_BUILD_DIR="$build" MVC_PREFIX="$prefix" "$src/scripts/install.sh")" \
      "install: mvc installed under $prefix ($prefix/bin/mvc)"
    # A relative --prefix: relative to the current directory, the Python package included.
    rm -rf "$work/rel" && mkdir -p "$work/rel"
    (cd "$work/rel" && cmake --install "$build" --prefix p >/dev/null) || fail "cmake --install --prefix (relative)"
    ls "$work"/rel/p/lib/python3/dist-packages/mvc/_core.cpython-*.so >/dev/null || fail "relative prefix: no mvc._core"
    expect_eq "relative prefix: mvc --version" "$("$work/rel/p/bin/mvc" --version)" "mvc $ver"
    rm -rf "$work/rel"
    for f in bin/mvc lib/libmvc_core.so.0.1 lib/libmvc_core.so lib/libmvc_torch.so.0.1 lib/libmvc_torch.so \
      include/mvc/repository.h include/mvc/model.h include/mvc/source.h include/mvc/error.h include/mvc/version.h \
      lib/cmake/mvc/mvcConfig.cmake lib/cmake/mvc/mvcConfigVersion.cmake lib/cmake/mvc/mvc-core-targets.cmake \
      lib/cmake/mvc/mvc-torch-targets.cmake lib/pkgconfig/mvc.pc share/man/man1/mvc.1 share/man/man1/mvc-commit.1 \
      share/man/man1/mvc-remote.1 share/bash-completion/completions/mvc share/zsh/vendor-completions/_mvc \
      lib/python3/dist-packages/mvc/__init__.py; do
      [ -e "$prefix/$f" ] || fail "cmake --install did not install $f"
    done
    ls "$prefix"/lib/python3/dist-packages/mvc/_core.cpython-*.so >/dev/null || fail "no mvc._core module installed"
    [ ! -e "$prefix/share/man/man1/mvc-generate-docs.1" ] || fail "the hidden generate-docs command got a man page"
    # The torch-free binary and library never link libtorch.
    expect_lacks "ldd bin/mvc" "$(ldd "$prefix/bin/mvc")" "libtorch"
    expect_has "ldd bin/mvc" "$(ldd "$prefix/bin/mvc")" "$prefix/bin/../lib/libmvc_core.so.0.1"
    expect_eq "installed mvc --version" "$("$prefix/bin/mvc" --version)" "mvc $ver"
    ;;

  consumer)  # examples/ built out of tree with find_package(mvc) against the prefix, then run
    out="$work/examples"
    rm -rf "$out"
    cmake -S "$src/examples" -B "$out" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
    grep -q "^mvc_DIR:PATH=$prefix/lib/cmake/mvc$" "$out/CMakeCache.txt" || fail "find_package(mvc) did not find $prefix"
    cmake --build "$out" -j "${MVC_JOBS:-2}" >/dev/null
    [ -x "$out/bin/mvc-versions" ] && [ -x "$out/bin/mvc-example" ] || fail "the examples were not built"
    expect_has "mvc-example links" "$(ldd "$out/bin/mvc-example")" "$prefix/lib/libmvc_torch.so.0.1"
    expect_lacks "mvc-versions links (torch-free)" "$(ldd "$out/bin/mvc-versions")" "libtorch"
    # The quickstart against the installed mvc (run.sh puts the consumer's bin/ first on PATH; it
    # holds no mvc, so `mvc` is the prefix's).
    PATH="$prefix/bin:$PATH" "$src/examples/quickstart/run.sh" "$out" >"$work/quickstart.log" 2>&1 ||
      fail "examples/quickstart/run.sh against the installed mvc: $(tail -5 "$work/quickstart.log")"
    expect_has "quickstart" "$(cat "$work/quickstart.log")" "OK: v1 restored"
    # mvc::core alone: the version the installed CLI committed, as the API resolves it.
    make_repo "$work/repo-consumer" "$out/bin"
    got="$("$out/bin/mvc-versions" clf-v1 models/clf)"
    expect_has "mvc-versions" "$got" "commit $(git rev-parse 'clf-v1^{commit}')"
    expect_has "mvc-versions" "$got" "weights models/clf/weights.safetensors $(stat -c %s models/clf/weights.safetensors) bytes"
    # find_package(mvc COMPONENTS core) needs no Torch.
    mkdir -p "$work/core-only" && cat >"$work/core-only/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.22)
project(core_only LANGUAGES CXX)
find_package(mvc CONFIG REQUIRED COMPONENTS core)
if(TARGET mvc::torch OR TARGET torch)
  message(FATAL_ERROR "COMPONENTS core brought in Torch")
endif()
EOF
    cmake -S "$work/core-only" -B "$work/core-only/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null ||
      fail "find_package(mvc COMPONENTS core)"
    ;;

  python)  # the installed Python package from the prefix, with PYTHONPATH
    [ -x "$build/install-test/examples/bin/mvc-example" ] || cmake --build "$work/examples" >/dev/null 2>&1 ||
      fail "needs the consumer case's build (install.consumer)"
    make_repo "$work/repo-python" "$work/examples/bin"
    got="$(PYTHONPATH="$prefix/lib/python3/dist-packages" PYTHONDONTWRITEBYTECODE=1 $PY -c '
import mvc, torch
print(mvc.__file__)
v = mvc.log("models/clf")
print(len(v), v[0]["tags"])
m = mvc.load("models/clf", rev="clf-v1")
print(type(m).__name__, sum(p.numel() for p in m.parameters()))
')"
    expect_has "import mvc" "$got" "$prefix/lib/python3/dist-packages/mvc/__init__.py"
    expect_has "mvc.log" "$got" "1 ['clf-v1']"
    expect_has "mvc.load" "$got" " 241"  # Linear(10,20) + Linear(20,1): 220 + 21 parameters
    ;;

  pkgconfig)  # a torch-free consumer compiled with pkg-config's mvc.pc from the prefix
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    expect_eq "pkg-config --modversion mvc" "$(pkg-config --modversion mvc)" "$ver"
    expect_eq "pkg-config --cflags mvc" "$(pkg-config --cflags mvc | xargs)" "-I$prefix/include"
    # shellcheck disable=SC2046
    g++ -std=c++20 -o "$work/versions-pc" "$src/examples/core/versions.cpp" $(pkg-config --cflags --libs mvc) \
      -Wl,-rpath,"$prefix/lib" || fail "compiling against pkg-config's mvc"
    cd "$work" && rc=0 && err="$("$work/versions-pc" HEAD models/clf 2>&1)" || rc=$?
    expect_eq "pkg-config consumer outside a repository: exit code" "$rc" 3
    expect_has "pkg-config consumer outside a repository" "$err" "mvc-versions: error:"
    if [ -d "$work/repo-consumer/.mvc" ]; then
      cd "$work/repo-consumer"
      expect_has "pkg-config consumer" "$("$work/versions-pc" clf-v1 models/clf)" "commit $(git rev-parse 'clf-v1^{commit}')"
    fi
    ;;

  unwritable)  # a prefix this user cannot write to, as an unprivileged user (CI runs as root)
    command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
    base="$work/unwritable"
    rm -rf "$base" && mkdir -p "$base/root-owned" && chmod 755 "$base/root-owned"
    chmod o+rx "$work" "$base"
    as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- env HOME=/nonexistent "$@"; }
    # scripts/install.sh: refused before anything is copied, one line naming the directory, exit 1.
    rc=0 && err="$(as_nobody env MVC_BUILD_DIR="$build" MVC_PREFIX="$base/root-owned/usr" "$src/scripts/install.sh" 2>&1)" || rc=$?
    expect_eq "install.sh into an unwritable prefix: exit code" "$rc" 1
    expect_eq "install.sh into an unwritable prefix" "$err" \
      "install: error: $base/root-owned: permission denied (install prefix $base/root-owned/usr): run as root, or set MVC_PREFIX to a directory you own, e.g. MVC_PREFIX=\$HOME/.local"
    expect_eq "nothing installed" "$(find "$base/root-owned" -mindepth 1 | wc -l)" 0
    # A build directory that was never configured.
    rc=0 && err="$(MVC_BUILD_DIR="$base/nobuild" MVC_PREFIX="$base/p" "$src/scripts/install.sh" 2>&1)" || rc=$?
    expect_eq "install.sh without a build: exit code" "$rc" 1
    expect_eq "install.sh without a build" "$err" "install: error: $base/nobuild: not a configured build directory (run scripts/build.sh first)"
    # A prefix below a file.
    rc=0 && err="$(as_nobody env MVC_BUILD_DIR="$build" MVC_PREFIX=/etc/passwd/usr "$src/scripts/install.sh" 2>&1)" || rc=$?
    expect_eq "install.sh under a file: exit code" "$rc" 1
    expect_eq "install.sh under a file" "$err" "install: error: /etc/passwd: not a directory (install prefix /etc/passwd/usr)"
    # cmake --install itself (documented in docs/conventions.md, "Installing"): CMake's own error,
    # naming the directory it could not create, exit 1.
    rc=0 && err="$(as_nobody cmake --install "$build" --prefix "$base/root-owned/usr" 2>&1)" || rc=$?
    expect_eq "cmake --install into an unwritable prefix: exit code" "$rc" 1
    expect_has "cmake --install into an unwritable prefix" "$err" "CMake Error"
    expect_has "cmake --install into an unwritable prefix" "$err" "$base/root-owned/usr"
    expect_has "cmake --install into an unwritable prefix" "$err" "Maybe need administrative privileges"
    expect_eq "nothing installed by cmake --install" "$(find "$base/root-owned" -mindepth 1 | wc -l)" 0
    ;;

  man)  # the generated man pages render, with the command's options and the guide's prose
    man1="$build/share/man/man1"
    render() { MANWIDTH=200 man -l "$1" 2>/dev/null | col -bx; }
    page="$(render "$man1/mvc-commit.1")"
    expect_has "mvc-commit(1)" "$page" "mvc-commit - Record a model version"
    expect_has "mvc-commit(1) synopsis" "$page" "mvc commit [OPTIONS] PATHS..."
    expect_has "mvc-commit(1) option" "$page" "-m, --message TEXT"
    expect_has "mvc-commit(1) option" "$page" "--strip-prefix TEXT"
    grep -qxE ' +-n, --no-verify' <<<"$page" || fail "mvc-commit(1): no line '-n, --no-verify' (a flag takes no value)"
    grep -qxE ' +-m, --message TEXT' <<<"$page" || fail "mvc-commit(1): no line '-m, --message TEXT'"
    expect_has "mvc-commit(1): the user guide's prose" "$page" "Concurrent and failed commits"
    page="$(render "$man1/mvc-remote.1")"
    expect_has "mvc-remote(1) subcommand" "$page" "mvc remote add"
    expect_has "mvc-push(1): the guide's Remotes section" "$(render "$man1/mvc-push.1")" "Remotes: mvc remote, push, fetch, pull"
    page="$(render "$man1/mvc.1")"
    expect_has "mvc(1) lists commit" "$page" "mvc-commit(1)"
    expect_has "mvc(1) exit status" "$page" "EXIT STATUS"
    # One page per visible command, no more: the commands `mvc --help` lists.
    cmds="$("$build/bin/mvc" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF { print $1 }' | sort)"
    pages="$(cd "$man1" && ls mvc-*.1 | sed 's/^mvc-//; s/\.1$//' | sort)"
    expect_eq "one man page per command" "$pages" "$cmds"
    # The generator refuses a guide it cannot read, writing nothing.
    rm -rf "$work/gen" && mkdir -p "$work"
    rc=0 && err="$("$build/bin/mvc" generate-docs --guide "$work/no-guide.md" --man "$work/gen" 2>&1)" || rc=$?
    expect_eq "generate-docs without a guide: exit code" "$rc" 1
    expect_eq "generate-docs without a guide" "$err" "mvc: error: $work/no-guide.md: cannot read the user guide"
    [ ! -e "$work/gen" ] || fail "generate-docs wrote $work/gen without a guide"
    # groff finds nothing to warn about.
    for f in "$man1"/*.1; do
      warn="$(groff -man -Tutf8 -ww -z "$f" 2>&1)"
      [ -z "$warn" ] || fail "groff warns about $(basename "$f"): $warn"
    done
    ;;

  completion)  # bash: source the script, call the function with COMP_WORDS set; zsh: parses
    comp="$build/share/bash-completion/completions/mvc"
    complete_words() {
      bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mvc; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$comp" "$@"
    }
    expect_eq "mvc com<TAB>" "$(complete_words mvc com | sort | tr "\n" " ")" "commit compare "
    expect_eq "mvc comm<TAB>" "$(complete_words mvc comm)" "commit"
    expect_eq "mvc ch<TAB>" "$(complete_words mvc ch)" "checkout"
    expect_eq "mvc commit --me<TAB>" "$(complete_words mvc commit --me)" "--message"
    expect_eq "mvc remote a<TAB>" "$(complete_words mvc remote a)" "add"
    expect_eq "mvc alias <TAB>" "$(complete_words mvc alias '' | sort | tr '\n' ' ')" "list log rm set "
    expect_eq "mvc help in<TAB>" "$(complete_words mvc help in | sort | tr '\n' ' ')" "init install-hooks "
    expect_eq "mvc generate<TAB> (hidden)" "$(complete_words mvc generate)" ""
    expect_eq "mvc diff --sta<TAB>" "$(complete_words mvc diff --sta | sort | tr "\n" " ")" "--staged --stat "
    # After an option that takes a value, and for positionals: files.
    cd "$src" && expect_eq "mvc commit --weights READ<TAB>" "$(complete_words mvc commit --weights READ)" "README.md"
    zcomp="$build/share/zsh/vendor-completions/_mvc"
    head -1 "$zcomp" | grep -qx '#compdef mvc' || fail "_mvc does not start with #compdef mvc"
    command -v zsh >/dev/null || fail "zsh is needed (scripts/install-deps.sh installs it)"
    zsh -n "$zcomp" || fail "zsh cannot parse _mvc"
    # _mvc called with words/CURRENT set, zsh's completion helpers replaced by stubs that print
    # what they were given: which candidates each position gets.
    mkdir -p "$work"
    cat >"$work/zsh-harness.zsh" <<'ZEOF'
_describe() { print -rl -- "${(@P)2}" }
_arguments() { print -rl -- "$@" }
_files() { : }
eval "$(sed '$d' "$1")"  # the function, without the trailing call
shift
words=("$@"); CURRENT=$#
_mvc
ZEOF
    zsh_complete() { zsh -f "$work/zsh-harness.zsh" "$zcomp" "$@"; }
    expect_has "zsh: mvc <TAB>" "$(zsh_complete mvc com)" "commit:Record a model version: store the weights"
    expect_has "zsh: mvc commit -<TAB>" "$(zsh_complete mvc commit --me)" "--message[Commit message]:TEXT:_files"
    expect_has "zsh: mvc commit -<TAB>" "$(zsh_complete mvc commit --me)" "--no-verify["
    expect_lacks "zsh: mvc commit -<TAB> (flags take no value)" "$(zsh_complete mvc commit --me)" "hooks, as git commit does]:"
    expect_has "zsh: mvc remote <TAB>" "$(zsh_complete mvc remote a)" "add:Add a remote"
    expect_has "zsh: mvc remote add -<TAB>" "$(zsh_complete mvc remote add -)" "--default[Make it the default remote"
    expect_lacks "zsh: hidden generate-docs" "$(zsh_complete mvc gen)" "generate-docs"
    ;;

  deb)  # cpack -G DEB: names, dependencies (satisfied here), file lists
    rm -rf "$debs" && mkdir -p "$debs"
    (cd "$build" && cpack -G DEB -B "$debs" >"$debs/cpack.log" 2>&1) || fail "cpack -G DEB: $(tail -5 "$debs/cpack.log")"
    arch="$(dpkg --print-architecture)"
    for p in mvc mvc-torch mvc-dev; do
      [ -f "$debs/${p}_${ver}_$arch.deb" ] || fail "no ${p}_${ver}_$arch.deb: $(ls "$debs")"
    done
    field() { dpkg-deb --field "$debs/${1}_${ver}_$arch.deb" "$2"; }
    files() { dpkg-deb --contents "$debs/${1}_${ver}_$arch.deb" | awk '{ print $6 }' | sed 's|^\./|/|'; }
    expect_eq "mvc Package" "$(field mvc Package)" "mvc"
    expect_eq "mvc Version" "$(field mvc Version)" "$ver"
    for dep in libgit2-1.5 libssl3 libcurl4 libzip4 libtomlplusplus3 libgvc6 libcgraph6 git "python3 (>= 3.11)"; do
      expect_has "mvc Depends" "$(field mvc Depends)" "$dep"
    done
    expect_lacks "mvc Depends (torch-free)" "$(field mvc Depends)" "torch"
    expect_has "mvc-torch Depends" "$(field mvc-torch Depends)" "libtorch1.13"
    expect_has "mvc-torch Depends" "$(field mvc-torch Depends)" "mvc (= $ver)"
    expect_has "mvc-dev Depends" "$(field mvc-dev Depends)" "mvc (= $ver)"
    expect_eq "mvc's summary" "$(field mvc Description | head -1)" "version control for PyTorch models, in git"
    expect_eq "mvc-torch's summary" "$(field mvc-torch Description | head -1)" "mvc's LibTorch side (libmvc_torch)"
    # Every Depends is satisfied by the set itself or by what scripts/install-deps.sh installed
    # here, version constraints included: dpkg's own database and dpkg --compare-versions, so the
    # test needs no apt, no package lists and no network.
    satisfied() {  # one relation: "name", "name (op version)"
      local name op want have
      name="$(sed 's/ *(.*//; s/ //g' <<<"$1")"
      op="$(sed -n 's/.*(\([<>=]*\) *\(.*\))/\1/p' <<<"$1")"
      want="$(sed -n 's/.*([<>=]* *\(.*\))/\1/p' <<<"$1")"
      case "$name" in
        mvc | mvc-torch | mvc-dev) have="$ver" ;;
        *)
          have="$(dpkg-query -W -f '${db:Status-Abbrev} ${Version}' "$name" 2>/dev/null)" || return 1
          [ "${have%% *}" = "ii" ] || return 1
          have="${have#* }"
          ;;
      esac
      [ -z "$op" ] || dpkg --compare-versions "$have" "$op" "$want"
    }
    for p in mvc mvc-torch mvc-dev; do
      while IFS= read -r dep; do
        [ -n "$dep" ] || continue
        ok=""
        while IFS= read -r alt; do satisfied "$alt" && ok=1; done < <(tr '|' '\n' <<<"$dep")
        [ -n "$ok" ] || fail "$p depends on '$dep', which nothing installed here satisfies"
      done < <(field $p Depends | tr ',' '\n' | sed 's/^ *//')
    done
    # A relation that nothing satisfies is caught (the check can fail).
    satisfied "mvc (= 0.0.0-not-this)" && fail "satisfied() accepts a version the set does not have"
    satisfied "no-such-package-mvc-test" && fail "satisfied() accepts a package that is not installed"
    mvc_files="$(files mvc)"
    for f in /usr/bin/mvc /usr/lib/libmvc_core.so.0.1 /usr/share/man/man1/mvc-commit.1 \
      /usr/share/bash-completion/completions/mvc /usr/share/zsh/vendor-completions/_mvc \
      /usr/lib/python3/dist-packages/mvc/__init__.py; do
      expect_has "mvc's files" "$mvc_files" "$f"
    done
    expect_lacks "mvc's files" "$mvc_files" "libmvc_torch"
    expect_lacks "mvc's files" "$mvc_files" "/usr/include"
    torch_files="$(files mvc-torch)"
    expect_has "mvc-torch's files" "$torch_files" "/usr/lib/libmvc_torch.so.0.1"
    expect_eq "mvc-torch's libraries" "$(grep -c '\.so' <<<"$torch_files")" 2  # .so.0.1 -> .so.0.1.0
    dev_files="$(files mvc-dev)"
    for f in /usr/include/mvc/repository.h /usr/include/mvc/model.h /usr/include/mvc/version.h \
      /usr/lib/libmvc_core.so /usr/lib/cmake/mvc/mvcConfig.cmake /usr/lib/pkgconfig/mvc.pc; do
      expect_has "mvc-dev's files" "$dev_files" "$f"
    done
    # The .pc inside points at /usr.
    tmpx="$debs/x" && dpkg-deb -x "$debs/mvc-dev_${ver}_$arch.deb" "$tmpx"
    expect_has "mvc-dev's mvc.pc" "$(cat "$tmpx/usr/lib/pkgconfig/mvc.pc")" "prefix=/usr"
    # The binary in the package is stripped (no debug info shipped).
    dpkg-deb -x "$debs/mvc_${ver}_$arch.deb" "$tmpx"
    expect_eq "debug sections in the packaged /usr/bin/mvc" "$(readelf -S "$tmpx/usr/bin/mvc" | grep -c debug_info || true)" 0
    ;;

  deb_root)  # slow: dpkg installs the packages into a fresh root whose dpkg database is this
    # machine's (dependencies checked against what is installed here); the files are then used
    root="$work/deb-root"
    rm -rf "$root" && mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/triggers"
    cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
    arch="$(dpkg --print-architecture)"
    dpkg --root="$root" --log=/dev/null --force-script-chrootless -i "$debs/mvc_${ver}_$arch.deb" \
      "$debs/mvc-torch_${ver}_$arch.deb" "$debs/mvc-dev_${ver}_$arch.deb" >/dev/null || fail "dpkg -i"
    expect_has "dpkg -l" "$(dpkg --root="$root" -l mvc mvc-torch mvc-dev | grep ^ii)" "mvc-torch"
    expect_eq "mvc --version from the package" "$("$root/usr/bin/mvc" --version)" "mvc $ver"
    expect_has "man mvc-commit from the package" "$(MANWIDTH=200 man -l "$root/usr/share/man/man1/mvc-commit.1" | col -bx)" "--message"
    got="$(PYTHONPATH="$root/usr/lib/python3/dist-packages" $PY -c 'import mvc; print(mvc.__file__)')"
    expect_eq "import mvc from the package" "$got" "$root/usr/lib/python3/dist-packages/mvc/__init__.py"
    # mvc-torch: the packaged mvc rebuilds a model through the packaged libmvc_torch.
    make_repo_root="$work/repo-deb"
    prefix="$root/usr" make_repo "$make_repo_root" "$work/examples/bin"
    rm models/clf/weights.safetensors
    out="$("$root/usr/bin/mvc" checkout clf-v1 -- models/clf 2>&1)" || fail "packaged mvc checkout: $out"
    expect_has "packaged mvc checkout (loaded in LibTorch)" "$out" "rebuilt and loaded strictly (241 parameters)"
    ;;

  *)
    fail "unknown case $case_name"
    ;;
esac
echo "install.$case_name: OK"
