//===- Translations.h - MLIR <-> Tessel executable translations -*- C++ -*-===//
//
// The translations tessel-translate offers:
//   --mlir-to-tessel-executable   a lowered module (after
//                                 --tessel-lowering-pipeline) to a
//                                 tessel.proto.Executable, in protobuf text
//                                 form (--tessel-executable-binary: the
//                                 binary form tessel-run reads).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TRANSLATE_TRANSLATIONS_H
#define TESSEL_COMPILER_TRANSLATE_TRANSLATIONS_H

namespace tessel {

/// Registers Tessel's translations with mlir-translate's registry. Call once,
/// before mlir::mlirTranslateMain.
void registerTesselTranslations();

} // namespace tessel

#endif // TESSEL_COMPILER_TRANSLATE_TRANSLATIONS_H
