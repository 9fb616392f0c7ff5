# Conan 2 recipe for Lepton, a header-only library.
#   conan create . --build=missing          # package it and run test_package/
#   conan install --requires=lepton/0.1.0   # then use it (CMakeDeps: find_package(lepton))
import os

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class LeptonConan(ConanFile):
    name = "lepton"
    # Must equal project(lepton VERSION ...) in CMakeLists.txt (the packaging.conan_recipe test checks it).
    version = "0.1.0"
    description = "Header-only C++20 neural networks whose structure is their type"
    license = "MIT"
    topics = ("neural-networks", "deep-learning", "header-only", "xtensor")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"openmp": [True, False]}
    default_options = {"openmp": True}
    exports_sources = "include/*", "LICENSE"
    no_copy_source = True

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # Lepton's headers include these, so their headers must reach the consumer.
        # xtensor 0.24 to 0.27 and xsimd 8 to 14 are all supported (core/compat.hpp).
        self.requires("xtensor/[>=0.24.3 <0.28]", transitive_headers=True)
        self.requires("xsimd/[>=8.1.0 <15]", transitive_headers=True)
        self.requires("xtl/[>=0.7.2 <0.9]", transitive_headers=True)
        self.requires("zlib/[>=1.2.11 <2]", transitive_headers=True, transitive_libs=True)
        self.requires("nlohmann_json/[>=3.11 <4]", transitive_headers=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 20)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "lepton")
        self.cpp_info.set_property("cmake_target_name", "lepton::lepton")
        self.cpp_info.set_property("pkg_config_name", "lepton")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        # ConanCenter's xtensor defines XTENSOR_USE_XSIMD for its consumers only when its
        # own xsimd option is on; Lepton's expressions rely on it whatever that option says.
        self.cpp_info.defines = ["XTENSOR_USE_XSIMD"]
        if self.options.openmp and self.settings.compiler in ("gcc", "clang"):
            self.cpp_info.cxxflags = ["-fopenmp"]
            self.cpp_info.sharedlinkflags = ["-fopenmp"]
            self.cpp_info.exelinkflags = ["-fopenmp"]
