using System.CommandLine;
using FluxStudio.Engine.Models;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Cli.Commands;

/// <summary>`fluxstudio download --model schnell|dev`: fetch a model into the Hugging Face cache, resuming where it stopped.</summary>
public static class DownloadCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "schnell or dev.", DefaultValueFactory = _ => "schnell" };
        model.AcceptOnlyFromAmong("schnell", "dev");
        var command = new Command("download",
            "Download FLUX.1 into the Hugging Face cache (HF_HUB_CACHE / HF_HOME), where Python tools find it too. " +
            "dev is gated: accept its licence on the Hub and set HF_TOKEN. An interrupted download resumes.")
        {
            model,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var repository = FluxRepository.FromAlias(result.GetValue(model)!);
            using var host = CliHost.Build([]);
            var settings = host.Services.GetRequiredService<HubSettings>();
            var downloader = host.Services.GetRequiredService<HubDownloader>();
            try
            {
                var snapshot = await downloader.DownloadAsync(repository, settings.Revision, FluxDownloadSelection.Full,
                    ProgressOnStandardError(),
                    cancellationToken);
                Console.Error.WriteLine();
                Console.WriteLine($"Downloaded {repository.RepoId} to {snapshot}");
                return 0;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("\nCancelled; run the same command again to resume.");
                return ExitCodes.Cancelled;
            }
            catch (Exception e) when (e is HubDownloadException or HttpRequestException or IOException)
            {
                Console.Error.WriteLine($"\nerror: {e.Message}");
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>One line on standard error that the download keeps rewriting.</summary>
    public static IProgress<DownloadProgress> ProgressOnStandardError() => new Progress<DownloadProgress>(p => Console.Error.Write(
        $"\rDownloading {p.CurrentFile} ({p.FileNumber}/{p.FileCount}): {p.BytesDone >> 20} / {(p.BytesTotal ?? 0) >> 20} MiB   "));
}
