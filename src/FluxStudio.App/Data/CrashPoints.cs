namespace FluxStudio.App.Data;

/// <summary>
/// Named points inside multi-step file and database operations. Tests set <see cref="Hook"/> to throw
/// <see cref="SimulatedCrashException"/> at one point, which skips the in-process clean-up exactly as a
/// killed process would, and then check that start-up reconciliation repairs the state.
/// </summary>
internal sealed class CrashPoints
{
    public Action<string>? Hook { get; set; }

    public void Reach(string point) => Hook?.Invoke(point);
}

/// <summary>Stands for the process dying at a <see cref="CrashPoints"/> point; never thrown outside tests.</summary>
internal sealed class SimulatedCrashException(string point) : Exception($"Simulated crash at {point}.")
{
    public string Point { get; } = point;
}
