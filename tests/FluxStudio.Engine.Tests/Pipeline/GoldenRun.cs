using System.Text.Json;
using FluxStudio.Engine.ControlNet;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>
/// One reference run of the tiny pipeline (a folder under tests/Fixtures/pipeline-tiny/runs or lora-tiny/runs): the
/// arguments of its args.json, the tensors it recorded in golden.safetensors, and the checks made against them.
/// </summary>
internal sealed record GoldenRun(string Prompt, ulong Seed, int Width, int Height, int Steps, float Guidance,
    (string File, double Scale)[] Loras)
{
    public static GoldenRun Read(string runFolder) =>
        FromJson(JsonDocument.Parse(File.ReadAllText(Path.Combine(runFolder, "args.json"))).RootElement);

    /// <summary>The run parameters of an args.json object (prompt, seed, width, height, num_steps, guidance, loras).</summary>
    public static GoldenRun FromJson(JsonElement json)
    {
        var loras = json.TryGetProperty("loras", out var list)
            ? list.EnumerateArray().Select(lora => (lora.GetProperty("file").GetString()!, lora.GetProperty("scale").GetDouble())).ToArray()
            : [];
        return new GoldenRun(json.GetProperty("prompt").GetString()!, json.GetProperty("seed").GetUInt64(), json.GetProperty("width").GetInt32(),
            json.GetProperty("height").GetInt32(), json.GetProperty("num_steps").GetInt32(), json.GetProperty("guidance").GetSingle(), loras);
    }

    public static SafetensorsFile OpenGolden(string runFolder) => SafetensorsFile.Open(Path.Combine(runFolder, "golden.safetensors"));

    public FluxGenerationOptions Options => new()
    {
        Prompt = Prompt, Seed = Seed, Width = Width, Height = Height, Steps = Steps, Guidance = Guidance,
    };

    /// <summary>Denoises <paramref name="noise"/>, checking every step, the final latent and the decoded image against the run.</summary>
    /// <param name="controlNet">When given, the ControlNet's residuals of every step are checked too
    /// (<c>step_k.controlnet_block_samples.j</c>, <c>step_k.controlnet_single_block_samples.j</c>).</param>
    public static void AssertDenoisingMatches(FluxPipeline pipeline, SafetensorsFile golden, TextConditioning text, Tensor noise,
        float[] timesteps, float guidance, ControlNetGuide? controlNet = null)
    {
        var (rows, columns) = (noise.shape[2] / 2, noise.shape[3] / 2);
        var final = EulerSampler.Denoise(pipeline.Model.Transformer, LatentPacking.Pack(noise), LatentPacking.ImageIds(1, rows, columns),
            text, timesteps, guidance, step =>
            {
                if (controlNet is not null) AssertResidualsMatch(golden, step);
                TensorAssert.Close(golden.Load($"step_{step.Step}.pred"), step.Prediction, 1e-4, $"step {step.Step} prediction");
                if (step.Step + 1 < step.Steps)
                    TensorAssert.Close(golden.Load($"step_{step.Step + 1}.img_in"), step.Latent, 1e-4, $"latent into step {step.Step + 1}");
            }, controlNet: controlNet);
        TensorAssert.Close(golden.Load("final_packed"), final, 1e-4, "final packed latent");
        TensorAssert.Close(golden.Load("final_latent"), LatentPacking.Unpack(final, rows, columns), 1e-4, "final latent");
        TensorAssert.Close(golden.Load("decoded"), pipeline.Decode(final, rows, columns), 1e-4, "decoded image");
    }

    private static void AssertResidualsMatch(SafetensorsFile golden, DenoiseStep step)
    {
        Assert.NotNull(step.Residuals);
        foreach (var (kind, residuals) in new[] { ("controlnet_block_samples", step.Residuals.Double), ("controlnet_single_block_samples", step.Residuals.Single) })
        {
            var prefix = $"step_{step.Step}.{kind}.";
            Assert.Equal(golden.Names.Count(name => name.StartsWith(prefix, StringComparison.Ordinal)), residuals.Count);
            for (int j = 0; j < residuals.Count; j++)
                TensorAssert.Close(golden.Load(prefix + j), residuals[j], 1e-4, prefix + j);
        }
    }

    /// <summary>Every value within one level of the run's 8-bit image, and at most 1 % of them off by one.</summary>
    public static void AssertImageWithinOneLevel(SafetensorsFile golden, byte[] actual) =>
        AssertImageWithinOneLevel(golden.Load("image_uint8").data<byte>().ToArray(), actual);

    /// <summary>Every value within one level of <paramref name="expected"/>, and at most 1 % of them off by one.</summary>
    public static void AssertImageWithinOneLevel(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int offByOne = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int difference = Math.Abs(expected[i] - actual[i]);
            Assert.True(difference <= 1, $"value {i} is {actual[i]}, reference {expected[i]}");
            offByOne += difference;
        }
        Assert.True(offByOne <= expected.Length / 100, $"{offByOne} values are one level off");
    }
}
