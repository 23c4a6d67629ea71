# CPack: Debian packages, one per install component (cmake/install.cmake), for Debian 12:
#   cd build && cpack -G DEB   ->  mvc_X.Y.Z_amd64.deb, mvc-torch_..., mvc-dev_...
#   mvc        the CLI (torch-free: usable without libtorch), libmvc_core, the Python package,
#              man pages, bash and zsh completion
#   mvc-torch  libmvc_torch, the LibTorch side mvc dlopens to rebuild a model (checkout, run, verify)
#   mvc-dev    headers, the .so links, find_package(mvc) and pkg-config's mvc.pc
# Dependencies are Debian 12's package names, written out (the libraries the binaries link, by
# their SONAME packages): tests/install/test_deb.sh checks them against the packages' contents.
set(CPACK_PACKAGE_NAME mvc)
set(CPACK_PACKAGE_VENDOR "mvc")
# Each package's description: its first line is the summary (no CPACK_PACKAGE_DESCRIPTION_SUMMARY,
# which CPack would put before every one).
set(CPACK_PACKAGE_CONTACT "mvc maintainers <mvc@example.com>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the build is RelWithDebInfo: ~150 MB of debug info otherwise
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
if(MVC_BUILD_TORCH)
  set(CPACK_COMPONENTS_ALL runtime torch dev)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION vcs)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)  # fast to build in CI; the packages are small when stripped

set(_mvc_ver "${PROJECT_VERSION}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME mvc)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
  "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1, libgit2-1.5, libssl3, libcurl4, libzip4, libtomlplusplus3, libgvc6, libcgraph6, git, python3 (>= 3.11), python3 (<< 3.12)")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "mvc-torch (= ${_mvc_ver}), python3-torch")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "version control for PyTorch models, in git
The mvc command (torch-free), libmvc_core, the Python package mvc, man pages and
bash/zsh completion. Install mvc-torch to rebuild models in LibTorch on checkout.")

set(CPACK_DEBIAN_TORCH_PACKAGE_NAME mvc-torch)
set(CPACK_DEBIAN_TORCH_PACKAGE_DEPENDS "mvc (= ${_mvc_ver}), libtorch1.13, libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1")
set(CPACK_DEBIAN_TORCH_DESCRIPTION "mvc's LibTorch side (libmvc_torch)
Rebuilds a model version from arch.toml in LibTorch and loads its weights strictly;
the mvc command loads it when a model must be built (checkout, run, verify).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME mvc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "mvc (= ${_mvc_ver})")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "mvc-torch (= ${_mvc_ver}), libtorch-dev, cmake, pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION "mvc's C++ API: headers, CMake package and pkg-config file
find_package(mvc CONFIG REQUIRED) gives mvc::core (torch-free) and, with mvc-torch and
libtorch-dev installed, mvc::torch; pkg-config's mvc is mvc::core.")

include(CPack)
