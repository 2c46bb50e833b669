using System.CommandLine;
using System.Globalization;
using FluxStudio.App;
using FluxStudio.App.History;
using FluxStudio.App.Data;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace FluxStudio.Cli.Commands;

/// <summary><c>fluxstudio history list|show|delete|import</c>: the history of generated images.</summary>
public static class HistoryCommand
{
    private static readonly Option<DirectoryInfo?> DataRoot = new("--data-root")
    {
        Description = "The FluxStudio data folder (database and outputimage/). Default: FluxStudio:DataRoot, as the server reads it " +
                      "(appsettings.json, $FluxStudio__DataRoot), else the studio's data folder.",
        Recursive = true,
    };

    public static Command Create()
    {
        var command = new Command("history", "List, show, search, delete or import generated images.");
        command.Options.Add(DataRoot);
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Delete());
        command.Subcommands.Add(Import());
        return command;
    }

    private static Command List()
    {
        var limit = new Option<int>("--limit", "-n") { Description = "How many images to show.", DefaultValueFactory = _ => 20 };
        var search = new Option<string?>("--search", "-s") { Description = "Only images whose prompt holds these words." };
        var command = new Command("list", "Show the newest images first.") { limit, search };
        command.SetAction((parse, ct) => WithStoreAsync(parse, async store =>
        {
            var n = parse.GetValue(limit);
            if (n < 1)
                return Fail($"--limit must be 1 or more, not {n}.");
            var text = parse.GetValue(search);
            var page = string.IsNullOrWhiteSpace(text)
                ? await store.ListAsync(n, null, ct)
                : await store.SearchAsync(text, n, null, ct);
            if (page.Entries.Count == 0)
            {
                Console.WriteLine(string.IsNullOrWhiteSpace(text) ? "No images in history yet." : $"No image prompt matches \"{text}\".");
                return 0;
            }
            foreach (var e in page.Entries)
            {
                var prompt = e.Prompt.ReplaceLineEndings(" ");
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{e.Id,6}  {e.Timestamp.ToLocalTime():yyyy-MM-dd HH:mm:ss}  {e.ModelAlias,-7}  {e.Width}x{e.Height,-5}  seed {e.Seed,-10}  {(prompt.Length > 60 ? prompt[..57] + "..." : prompt)}"));
            }
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var id = IdArgument();
        var command = new Command("show", "Print every setting of one image.") { id };
        command.SetAction((parse, ct) => WithStoreAsync(parse, async store =>
        {
            var details = await store.GetDetailsAsync(parse.GetValue(id), ct);
            if (details is null)
                return Fail($"There is no image {parse.GetValue(id)} in history. Run `fluxstudio history list` to see the ids.");
            Console.Write(details);
            return 0;
        }));
        return command;
    }

    private static Command Delete()
    {
        var id = IdArgument();
        var command = new Command("delete", "Delete an image, its metadata file and its history entry.") { id };
        command.SetAction((parse, ct) => WithStoreAsync(parse, async store =>
        {
            var result = await store.DeleteAsync(parse.GetValue(id), ct);
            if (!result.Deleted)
                return Fail(result.Message);
            Console.WriteLine(result.Message);
            return 0;
        }));
        return command;
    }

    private static Command Import()
    {
        var path = new Argument<string>("database") { Description = $"The original app's {OriginalHistoryImporter.DefaultFileName}." };
        var command = new Command("import", "Import the history of MFLUX-Gradio, copying its images into the output folder.") { path };
        command.SetAction((parse, ct) => WithStoreAsync(parse, async store =>
        {
            try
            {
                var report = await new OriginalHistoryImporter(store).ImportAsync(parse.GetValue(path)!, null, ct);
                Console.WriteLine($"Imported {report.Imported} image(s), {report.Copied} of them copied into the output folder; " +
                                  $"{report.AlreadyPresent} were already in history; {report.Skipped.Count} row(s) skipped.");
                foreach (var skipped in report.Skipped)
                    Console.WriteLine($"  skipped: {skipped}");
                foreach (var problem in report.Problems)
                    Console.WriteLine($"  note: {problem}");
                return 0;
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                return Fail(ex.Message);
            }
        }));
        return command;
    }

    private static Argument<long> IdArgument() => new("id") { Description = "The image's id, as `history list` shows it." };

    /// <summary>
    /// Runs the action on the history that the settings (or --data-root) name; a damaged or unreachable database, or a
    /// database setting that makes no sense, is one sentence, not a stack trace.
    /// </summary>
    private static async Task<int> WithStoreAsync(ParseResult parse, Func<HistoryStore, Task<int>> action)
    {
        using var host = CliHost.Build([new($"{StudioOptions.SectionName}:{nameof(StudioOptions.DataRoot)}", parse.GetValue(DataRoot)?.FullName)]);
        StudioDatabase? database = null;
        try
        {
            database = host.Services.GetRequiredService<StudioDatabase>();
            return await action(host.Services.GetRequiredService<HistoryStore>());
        }
        catch (StudioDatabaseException ex)
        {
            return Fail(ex.Message);
        }
        catch (SqliteException ex) when (DamagedDatabaseException.IsDamage(ex))
        {
            return Fail(DamagedDatabaseException.From(database!.Name, ex).Message);
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return ExitCodes.Failure;
    }
}
