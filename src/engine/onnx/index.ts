/**
 * ONNX: the sentence encoder lowered to an ONNX graph (one definition, checked against the
 * tfjs model in test/onnx-parity), export as a transformers.js / onnxruntime model folder,
 * dynamic 8-bit quantization, and running the graphs with onnxruntime-node.
 */
export { buildEncoderGraph, encoderSpec, encoderToOnnx, encoderWeights, initializerWeights, type EncoderSpec, type WeightSource } from './encoder.js';
export { checkTarget, exportOnnx, EXPORT_MARKER, QUANTIZE_MODES, type ExportOptions, type ExportResult, type QuantizeMode } from './export.js';
export { GraphBuilder, attr } from './graph.js';
export { encodeModel, OPSET, IR_VERSION } from './proto.js';
export { quantizeDynamic } from './quantize.js';
export { createSession, runEncoder, batchFeeds } from './runtime.js';
