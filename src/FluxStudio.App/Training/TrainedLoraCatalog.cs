using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluxStudio.App.Loras;
using FluxStudio.App.Outputs;

namespace FluxStudio.App.Training;

/// <summary>
/// Puts a trained LoRA where the Generate tab finds it: a copy in the LoRA folder, under the run's name (made unique), and
/// an entry in <c>lora_info.json</c> with its description and activation keyword.
/// </summary>
public sealed class TrainedLoraCatalog(LoraCatalog catalog)
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>Adds the LoRA at <paramref name="loraPath"/>; returns its file name in the LoRA folder.</summary>
    public async Task<string> AddAsync(string loraPath, string runName, string description, string activationKeyword, CancellationToken ct)
    {
        await Gate.WaitAsync(ct);
        try
        {
            Directory.CreateDirectory(catalog.Folder);
            var name = FreeName(Sanitize(runName));
            File.Copy(loraPath, Path.Combine(catalog.Folder, name));
            var entries = File.Exists(catalog.InfoFilePath)
                ? JsonNode.Parse(await File.ReadAllBytesAsync(catalog.InfoFilePath, ct),
                      documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }) as JsonArray
                  ?? throw new InvalidDataException($"{catalog.InfoFilePath} does not hold a list; fix it, then add {name} to it.")
                : [];
            entries.Add(new JsonObject { ["file_name"] = name, ["description"] = description, ["activation_keyword"] = activationKeyword });
            var json = entries.ToJsonString(new JsonSerializerOptions
            {
                WriteIndented = true,
                Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            });
            await AtomicFile.WriteAsync(catalog.InfoFilePath, Encoding.UTF8.GetBytes(json + Environment.NewLine), overwrite: true, ct);
            return name;
        }
        finally
        {
            Gate.Release();
        }
    }

    private string FreeName(string stem)
    {
        var name = stem + ".safetensors";
        for (int n = 2; File.Exists(Path.Combine(catalog.Folder, name)); n++)
            name = $"{stem}-{n}.safetensors";
        return name;
    }

    private static string Sanitize(string runName)
    {
        var cleaned = new string([.. runName.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')]).Trim('.', '_');
        return cleaned.Length == 0 ? "trained-lora" : cleaned;
    }
}
