using FluxStudio.Engine.Training;

namespace FluxStudio.App.Training;

/// <summary>A training configuration that cannot be run; <see cref="Problems"/> says, per key, what to change.</summary>
public sealed class TrainingConfigException(IReadOnlyList<ConfigProblem> problems)
    : Exception(string.Join(" ", problems.Select(problem => problem.Message)))
{
    public IReadOnlyList<ConfigProblem> Problems { get; } = problems;

    public TrainingConfigException(string key, string message) : this([new ConfigProblem(key, message)])
    {
    }
}
