//===- tessel-translate.cpp - Tessel's mlir-translate ---------------------===//
//
// Translates between Tessel's IR and its executable, with mlir-translate's
// conventions (--split-input-file, --verify-diagnostics, -o):
//
//   tessel-opt --tessel-lowering-pipeline model.mlir |
//     tessel-translate --mlir-to-tessel-executable
//
// prints the executable in protobuf text form (--tessel-executable-binary:
// the file tessel-run reads).
//
//===----------------------------------------------------------------------===//

#include "compiler/translate/Translations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "tools/HideLlvmOptions.h"

int main(int argc, char **argv) {
  tessel::hideLlvmOptions();
  tessel::registerTesselTranslations();
  return mlir::succeeded(
             mlir::mlirTranslateMain(argc, argv, "Tessel translation driver\n"))
             ? 0
             : 1;
}
