using static TorchSharp.torch;

namespace FluxStudio.Engine.Text;

/// <summary>
/// Checks the token ids and masks handed to a text encoder (CLIP or T5), with messages that say what is wrong.
/// </summary>
internal static class TextEncoderInputs
{
    public static void CheckIds(Tensor inputIds, long vocabSize, long? maxLength, string model)
    {
        if (inputIds.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"{model} token ids must be int64 or int32, got {inputIds.dtype}.", nameof(inputIds));
        if (inputIds.dim() != 2 || inputIds.shape[0] == 0 || inputIds.shape[1] == 0)
            throw new ArgumentException(
                $"{model} token ids must have shape [batch, length] with both non-zero, got [{string.Join(", ", inputIds.shape)}].",
                nameof(inputIds));
        if (maxLength is { } limit && inputIds.shape[1] > limit)
            throw new ArgumentException(
                $"{model} takes at most {limit} tokens per sequence, got {inputIds.shape[1]}; truncate in the tokenizer.",
                nameof(inputIds));
        using var min = inputIds.min();
        using var max = inputIds.max();
        long smallest = min.item<long>(), largest = max.item<long>();
        if (smallest < 0 || largest >= vocabSize)
            throw new ArgumentException(
                $"{model} token ids must lie in [0, {vocabSize}), got values from {smallest} to {largest}; " +
                "the tokenizer does not belong to this model.", nameof(inputIds));
    }

    public static void CheckMask(Tensor? attentionMask, Tensor inputIds)
    {
        if (attentionMask is null) return;
        if (!attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException(
                $"The attention mask must have the ids' shape [{string.Join(", ", inputIds.shape)}], got " +
                $"[{string.Join(", ", attentionMask.shape)}].", nameof(attentionMask));
    }
}
