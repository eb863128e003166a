# Writes a C++ source that holds one file's bytes: cmake -DIN=file -DOUT=out.cpp -DNAME=symbol -P
# embed-file.cmake defines `extern const std::string_view partyline::embedded::<NAME>`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" length)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
math(EXPR size "${length} / 2")
file(WRITE "${OUT}.tmp"
     "// Generated from ${IN} by scripts/embed-file.cmake: do not edit.\n"
     "#include <string_view>\n\n"
     "namespace partyline::embedded {\n\n"
     "namespace {\nconst char kBytes[] = {\n    ${bytes}'\\0'};\n}  // namespace\n\n"
     "extern const std::string_view ${NAME};\n"
     "const std::string_view ${NAME}(kBytes, ${size});\n\n"
     "}  // namespace partyline::embedded\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
