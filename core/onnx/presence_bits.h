#pragma once
// Bit numbers of ir::Presence for each ONNX message, shared by importer and exporter only.
// A bit says "this optional field was present in the file although it held its default".

namespace wh::onnx::bits {

enum Model { kModelIrVersion, kModelProducerName, kModelProducerVersion, kModelDomain,
             kModelVersion, kModelDocString, kModelGraph };
enum Graph { kGraphName, kGraphDocString };
enum Node { kNodeName, kNodeOpType, kNodeDomain, kNodeDocString };
enum Attr { kAttrName, kAttrRefAttrName, kAttrDocString, kAttrType, kAttrF, kAttrI, kAttrS };
enum ValueInfo { kValueInfoName, kValueInfoType, kValueInfoDocString };
enum Type { kTypeDenotation };
enum TypeInner { kInnerElemType, kInnerKeyType, kInnerOpaqueDomain, kInnerOpaqueName };
enum Dim { kDimDenotation };
enum Tensor { kTensorDataType, kTensorName, kTensorDocString, kTensorDataLocation };
enum Segment { kSegmentBegin, kSegmentEnd };
enum Sparse { kSparseValues, kSparseIndices };
enum Pair { kPairKey, kPairValue };
enum Opset { kOpsetDomain, kOpsetVersion };
enum Function { kFunctionName, kFunctionDocString, kFunctionDomain };
enum Annotation { kAnnotationTensorName };

}  // namespace wh::onnx::bits
