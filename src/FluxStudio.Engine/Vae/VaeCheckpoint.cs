using FluxStudio.Engine.Weights;

namespace FluxStudio.Engine.Vae;

/// <summary>
/// Where a VAE's weights and config are, given what a user points at: <c>ae.safetensors</c>, a diffusers
/// <c>vae/</c> folder (config.json + diffusion_pytorch_model.safetensors), or a model folder holding either.
/// </summary>
public sealed record VaeCheckpoint(string WeightsPath, string? ConfigPath)
{
    public const string ConfigFileName = "config.json";
    public const string BflFileName = "ae.safetensors";

    public static VaeCheckpoint Locate(string path)
    {
        if (File.Exists(path)) return new VaeCheckpoint(path, null);
        if (!Directory.Exists(path))
            throw new FileNotFoundException(
                $"{path}: no VAE there. Give the path of ae.safetensors, of a diffusers vae/ folder, or of a model folder holding one of them.",
                path);

        var vaeFolder = Path.Combine(path, "vae");
        if (Directory.Exists(vaeFolder)) return Locate(vaeFolder);
        var config = Path.Combine(path, ConfigFileName);
        if (File.Exists(config)) return new VaeCheckpoint(path, config);
        var bfl = Path.Combine(path, BflFileName);
        if (File.Exists(bfl)) return new VaeCheckpoint(bfl, null);
        return new VaeCheckpoint(path, null);
    }

    /// <summary>The weights under BFL names, whichever layout the checkpoint uses.</summary>
    public ITensorSource OpenCanonical(out VaeLayout layout)
    {
        var raw = TensorSources.Open(WeightsPath);
        try
        {
            layout = VaeKeyMap.DetectLayout(raw.Names, raw.Description);
            return layout == VaeLayout.Diffusers ? VaeKeyMap.FromDiffusers(raw) : raw;
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    /// <summary>The config, read without loading any weight (only the tensor headers when there is no config.json).</summary>
    public AutoEncoderConfig ReadConfig()
    {
        if (ConfigPath != null) return AutoEncoderConfig.FromJsonFile(ConfigPath);
        using var canonical = OpenCanonical(out _);
        return ReadConfig(canonical);
    }

    /// <summary>The config.json when there is one, otherwise the shapes of the weights with the FLUX.1 factors.</summary>
    public AutoEncoderConfig ReadConfig(ITensorSource canonical)
    {
        if (ConfigPath != null) return AutoEncoderConfig.FromJsonFile(ConfigPath);
        try
        {
            return AutoEncoderConfig.FromTensorShapes(canonical.Names,
                name => canonical.Contains(name) ? canonical.Info(name).Shape : null);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"{canonical.Description}: {e.Message}.", e);
        }
    }
}
