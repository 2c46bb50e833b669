using System.CommandLine;
using FluxStudio.App;
using FluxStudio.Cli;
using FluxStudio.Cli.Commands;

var root = new RootCommand($"{AppInfo.Name} {AppInfo.Version}: a local, private FLUX.1 image studio.");
// One file per command under Commands/.
root.Subcommands.Add(VersionCommand.Create());
root.Subcommands.Add(RemoveBackgroundCommand.Create());
root.Subcommands.Add(EnhanceCommand.Create());
root.Subcommands.Add(HistoryCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(MakeTinyModelCommand.Create());
root.Subcommands.Add(MakeRandomModelCommand.Create());
root.Subcommands.Add(DownloadCommand.Create());
root.Subcommands.Add(SaveCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(WorkerCommand.Create());
return await CommandLineErrors.InvokeAsync(root.Parse(args));
