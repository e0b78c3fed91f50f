namespace Loom.Models.Weights;

/// <summary>Element types of stored tensors. Quantized types are GGUF block formats.</summary>
public enum DType
{
    F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool,
    Q8_0, Q4_0, Q4_K, Q6_K,
    Q4_1, Q5_0, Q5_1, IQ4_NL, Q5_K,
}
