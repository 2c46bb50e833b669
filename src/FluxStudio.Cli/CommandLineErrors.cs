using System.CommandLine;
using System.CommandLine.Invocation;
using System.Text;

namespace FluxStudio.Cli;

/// <summary>
/// Runs a parsed command line, except one that did not parse: then each error and the usage line of the command
/// reached go to standard error, and the exit code is <see cref="ExitCodes.InvalidInput"/>, as for any other bad
/// input (the library's own answer prints the whole help and exits with 1).
/// </summary>
public static class CommandLineErrors
{
    public static async Task<int> InvokeAsync(ParseResult parse, CancellationToken cancellationToken = default)
    {
        if (parse.Action is not ParseErrorAction)
            return await parse.InvokeAsync(cancellationToken: cancellationToken);
        Report(parse, Console.Error);
        return ExitCodes.InvalidInput;
    }

    private static void Report(ParseResult parse, TextWriter error)
    {
        foreach (var problem in parse.Errors)
            error.WriteLine($"error: {problem.Message}");
        var command = parse.CommandResult.Command;
        var path = CommandPath(command);
        error.WriteLine($"Usage: {path}{Usage(command)}  (run `{path} --help` for the details)");
    }

    /// <summary>What follows the command's name on its usage line, as the full help writes it.</summary>
    private static string Usage(Command command)
    {
        var usage = new StringBuilder();
        if (command.Subcommands.Count > 0)
            usage.Append(" [command]");
        foreach (var argument in command.Arguments.Where(a => !a.Hidden))
            usage.Append($" <{argument.Name}>");
        if (command.Options.Count > 0 || command.Parents.Any())
            usage.Append(" [options]");
        return usage.ToString();
    }

    private static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Command? current = command; current is not null; current = current.Parents.OfType<Command>().FirstOrDefault())
            names.Insert(0, current.Name);
        return string.Join(' ', names);
    }
}
