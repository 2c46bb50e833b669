using System.CommandLine;
using System.Globalization;
using FluxStudio.App;
using FluxStudio.App.Data;
using FluxStudio.App.Generation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FluxStudio.Cli.Commands;

/// <summary>
/// `fluxstudio worker`: runs generation jobs and LoRA training runs from a queue shared in PostgreSQL, without the web
/// UI, on any machine that reaches the database; as many machines as there are GPUs. It reads the server's settings from
/// the same sources (<see cref="CliHost"/>); its flags stand for some of them. It claims only jobs it can run (the models
/// it has, the images its memory holds) and runs whose model it has, writes images to the output folder and training
/// outputs to the training folder all machines share, and stops cleanly on Ctrl+C: a job or run it was running goes back
/// to the queue (a run continues from its last checkpoint).
/// </summary>
public static class WorkerCommand
{
    public static Command Create()
    {
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda, cuda:N or mps (default: FluxStudio:Engine:Device, auto)." };
        var dtype = new Option<string?>("--dtype") { Description = "auto, fp32, bf16 or fp16 (default: FluxStudio:Engine:Precision, auto)." };
        var models = new Option<string[]>("--model")
        {
            Description = "A model path (folder or single-file transformer) that jobs may name, at the same path as where they are " +
                          "queued; repeatable (FluxStudio:Worker:Models). The FLUX.1 releases in the Hugging Face cache are offered anyway.",
            AllowMultipleArgumentsPerToken = true,
        };
        var memory = new Option<double?>("--memory-limit-gb")
        {
            Description = "Use at most this much of the device's memory (FluxStudio:Engine:MemoryLimitGB; default: all that is free).",
        };
        var name = new Option<string?>("--name") { Description = "How the worker is named in the job list (default: the machine's name)." };
        var outputRoot = new Option<DirectoryInfo?>("--output-root")
        {
            Description = "The output folder every machine shares, where images are written (default: FluxStudio:OutputRoot, else outputimage/ in the data root).",
        };
        var dataRoot = new Option<DirectoryInfo?>("--data-root") { Description = "The studio's data folder on this machine (default: FluxStudio:DataRoot)." };

        var command = new Command("worker", "Run generation jobs and LoRA training runs from the queue shared in PostgreSQL, without the web UI.")
        {
            device, dtype, models, memory, name, outputRoot, dataRoot,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var settings = new Dictionary<string, string?>
            {
                [$"{StudioOptions.SectionName}:{nameof(StudioOptions.DataRoot)}"] = result.GetValue(dataRoot)?.FullName,
                [$"{StudioOptions.SectionName}:{nameof(StudioOptions.OutputRoot)}"] = result.GetValue(outputRoot)?.FullName,
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Device)}"] = result.GetValue(device),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.Precision)}"] = result.GetValue(dtype),
                [$"{EngineOptions.SectionName}:{nameof(EngineOptions.MemoryLimitGB)}"] = CliHost.Setting(result.GetValue(memory)),
                [$"{WorkerSection}:{nameof(WorkerOptions.Name)}"] = result.GetValue(name),
                [$"{StudioOptions.SectionName}:Queue:{nameof(QueueOptions.LocalWorkers)}"] = "true",
            };
            foreach (var (path, i) in (result.GetValue(models) ?? []).Select((path, i) => (path, i)))
                settings[$"{WorkerSection}:{nameof(WorkerOptions.Models)}:{i.ToString(CultureInfo.InvariantCulture)}"] = Path.GetFullPath(path);
            using var host = CliHost.Build(settings, LogLevel.Information);
            return await RunAsync(host, cancellationToken);
        });
        return command;
    }

    private const string WorkerSection = $"{StudioOptions.SectionName}:Worker";

    private static async Task<int> RunAsync(IHost host, CancellationToken cancellationToken)
    {
        try
        {
            var database = host.Services.GetRequiredService<StudioDatabase>();
            if (!database.IsShared)
            {
                await Console.Error.WriteLineAsync(
                    "error: fluxstudio worker runs the jobs of a queue shared in PostgreSQL: set FluxStudio:Database:Provider to postgres " +
                    "and FluxStudio:Database:ConnectionString (environment variables FluxStudio__Database__Provider and " +
                    "FluxStudio__Database__ConnectionString). On one machine, the server runs the queue itself.");
                return ExitCodes.InvalidInput;
            }
            await database.CheckAsync(cancellationToken);
            var options = host.Services.GetRequiredService<IOptions<StudioOptions>>().Value;
            Console.WriteLine($"FluxStudio worker on {database.Name}, writing images to {options.ResolveOutputRoot()} and training runs to " +
                              $"{options.ResolveTrainingFolder()}  (Ctrl+C stops it)");
            await host.RunAsync(cancellationToken);
            return ExitCodes.Success;
        }
        catch (StudioDatabaseException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }
    }
}
