#pragma once
/// \file
/// The warnings stb's implementations (compiled into `io/png.hpp` and
/// `io/detail/stb_image.hpp`) give under a project's strict flags, silenced
/// around them only: `LEPTON_STB_DIAGNOSTICS_PUSH` before, `LEPTON_STB_DIAGNOSTICS_POP` after.

#if defined(__GNUC__)
#define LEPTON_STB_PRAGMA_TEXT(text) _Pragma(#text)
#define LEPTON_STB_IGNORE(warning) LEPTON_STB_PRAGMA_TEXT(GCC diagnostic ignored warning)
#if defined(__clang__)
#define LEPTON_STB_COMPILER_WARNINGS LEPTON_STB_IGNORE("-Wcomma") LEPTON_STB_IGNORE("-Wzero-as-null-pointer-constant")
#else
#define LEPTON_STB_COMPILER_WARNINGS LEPTON_STB_IGNORE("-Wmaybe-uninitialized")
#endif
/// Saves the warning state and turns off what stb's code warns about.
#define LEPTON_STB_DIAGNOSTICS_PUSH                                                                               \
    _Pragma("GCC diagnostic push") LEPTON_STB_IGNORE("-Wunused-function") LEPTON_STB_IGNORE("-Wunused-parameter") \
        LEPTON_STB_IGNORE("-Wunused-but-set-variable") LEPTON_STB_IGNORE("-Wsign-compare")                       \
            LEPTON_STB_IGNORE("-Wconversion") LEPTON_STB_IGNORE("-Wold-style-cast")                                \
                LEPTON_STB_IGNORE("-Wmissing-field-initializers") LEPTON_STB_IGNORE("-Wcast-qual")                 \
                    LEPTON_STB_IGNORE("-Wsign-conversion") LEPTON_STB_IGNORE("-Wshadow")                           \
                        LEPTON_STB_IGNORE("-Wdouble-promotion") LEPTON_STB_IGNORE("-Wimplicit-fallthrough")        \
                            LEPTON_STB_IGNORE("-Wundef") LEPTON_STB_COMPILER_WARNINGS
/// Restores the warning state `LEPTON_STB_DIAGNOSTICS_PUSH` saved.
#define LEPTON_STB_DIAGNOSTICS_POP _Pragma("GCC diagnostic pop")
#else
#define LEPTON_STB_DIAGNOSTICS_PUSH
#define LEPTON_STB_DIAGNOSTICS_POP
#endif
