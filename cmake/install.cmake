# What `cmake --install build` installs (README, "Quick start"; prefix /usr/local unless --prefix or
# CMAKE_INSTALL_PREFIX says otherwise). Three install components, one per .deb (cmake/packaging.cmake):
#   runtime  bin/mvc, lib/libmvc_core.so.X.Y, the Python package, man pages, bash and zsh completion
#   torch    lib/libmvc_torch.so.X.Y (the LibTorch side, dlopen'ed by mvc)
#   dev      include/mvc/*.h, lib/lib*.so links, lib/cmake/mvc (find_package(mvc)), lib/pkgconfig/mvc.pc
include(CMakePackageConfigHelpers)
set(MVC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mvc)

install(TARGETS mvc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS mvc_core EXPORT mvc-core-targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(EXPORT mvc-core-targets NAMESPACE mvc:: DESTINATION ${MVC_CMAKE_DIR} COMPONENT dev)
if(MVC_BUILD_TORCH)
  install(TARGETS mvc_torch EXPORT mvc-torch-targets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT torch NAMELINK_COMPONENT dev)
  install(EXPORT mvc-torch-targets NAMESPACE mvc:: DESTINATION ${MVC_CMAKE_DIR} COMPONENT dev)
endif()
install(DIRECTORY include/mvc DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(FILES ${CMAKE_BINARY_DIR}/generated/include/mvc/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mvc
  COMPONENT dev)

# find_package(mvc CONFIG REQUIRED [COMPONENTS core torch]): mvc::core always; mvc::torch when
# asked for, or by default when libmvc_torch is installed (then Torch is a find_dependency).
configure_package_config_file(cmake/mvcConfig.cmake.in ${CMAKE_BINARY_DIR}/generated/mvcConfig.cmake
  INSTALL_DESTINATION ${MVC_CMAKE_DIR})
# 0.x: a minor release may break the API (docs/conventions.md, "Compatibility").
write_basic_package_version_file(${CMAKE_BINARY_DIR}/generated/mvcConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/generated/mvcConfig.cmake ${CMAKE_BINARY_DIR}/generated/mvcConfigVersion.cmake
  DESTINATION ${MVC_CMAKE_DIR} COMPONENT dev)

# pkg-config: mvc.pc for the torch-free library only. LibTorch ships no pkg-config file (Debian's
# libtorch-dev has only its CMake package), so an mvc-torch.pc could not name its dependency: use
# find_package(mvc) for mvc::torch. The .pc is written at install time from the prefix then in
# force, so `cmake --install build --prefix P` gives a P/lib/pkgconfig/mvc.pc that points into P.
install(CODE "
  set(MVC_VERSION \"${PROJECT_VERSION}\")
  set(MVC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(MVC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(MVC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/cmake/mvc.pc.in\" \"${CMAKE_BINARY_DIR}/generated/install/mvc.pc\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\" TYPE FILE
    FILES \"${CMAKE_BINARY_DIR}/generated/install/mvc.pc\")
" COMPONENT dev)

# Man pages and shell completion, generated at build time by the mvc binary itself from its CLI11
# definitions and docs/user-guide.md (`mvc generate-docs`, src/cli/generate_docs.cpp): a new
# command gets its page and its completion with no edit here.
set(MVC_DOCS_DIR ${CMAKE_BINARY_DIR}/share)
add_custom_command(OUTPUT ${MVC_DOCS_DIR}/stamp
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${MVC_DOCS_DIR}/man/man1
  COMMAND $<TARGET_FILE:mvc> generate-docs --guide ${CMAKE_SOURCE_DIR}/docs/user-guide.md
    --man ${MVC_DOCS_DIR}/man/man1 --bash ${MVC_DOCS_DIR}/bash-completion/completions/mvc
    --zsh ${MVC_DOCS_DIR}/zsh/vendor-completions/_mvc
  COMMAND ${CMAKE_COMMAND} -E touch ${MVC_DOCS_DIR}/stamp
  DEPENDS mvc ${CMAKE_SOURCE_DIR}/docs/user-guide.md
  COMMENT "Generating mvc's man pages and bash/zsh completion"
  VERBATIM)
add_custom_target(mvc_docs ALL DEPENDS ${MVC_DOCS_DIR}/stamp)
install(DIRECTORY ${MVC_DOCS_DIR}/man/man1 DESTINATION ${CMAKE_INSTALL_MANDIR} COMPONENT runtime)
install(FILES ${MVC_DOCS_DIR}/bash-completion/completions/mvc
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT runtime)
install(FILES ${MVC_DOCS_DIR}/zsh/vendor-completions/_mvc
  DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT runtime)
