using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FluxStudio.Engine.Training;

/// <summary>
/// The order in which the examples are trained on, as the original app's trainer walks them: a new random permutation
/// at the start of every epoch, batches of up to <see cref="BatchSize"/> examples taken from it in turn (the last batch
/// of an epoch may be smaller), and one <see cref="PythonRandom"/> that the shuffles and the training step's time and
/// noise seeds all draw from. Its state is the original app's <c>iterator.json</c>.
/// </summary>
public sealed class TrainingIterator
{
    /// <summary>The "validation" loss of the original app uses the first examples, at most this many.</summary>
    public const int ValidationExamples = 10;

    private const string TimeFormat = "yyyy-MM-dd HH:mm:ss";

    private TrainingIterator(int exampleCount, int batchSize, int? numEpochs, PythonRandom random, DateTime startTime)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(exampleCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ExampleCount = exampleCount;
        BatchSize = batchSize;
        NumEpochs = numEpochs;
        Random = random;
        StartTime = startTime;
    }

    public int ExampleCount { get; }

    public int BatchSize { get; }

    /// <summary>Null: no end.</summary>
    public int? NumEpochs { get; }

    /// <summary>The generator of the shuffles and of the training step's draws.</summary>
    public PythonRandom Random { get; }

    public DateTime StartTime { get; }

    /// <summary>Examples of the current permutation already handed out.</summary>
    public int Position { get; private set; }

    public int Epoch { get; private set; }

    /// <summary>Batches handed out so far: the number of the current training iteration.</summary>
    public int NumIterations { get; private set; }

    public IReadOnlyList<int> CurrentPermutation { get; private set; } = [];

    /// <summary>Iterations in a whole run: one per example and epoch, as the original app counts them.</summary>
    public long TotalIterations => (long)ExampleCount * (NumEpochs ?? 0);

    /// <summary>A fresh run: <c>random.Random(seed)</c> and the first epoch's permutation drawn from it.</summary>
    public static TrainingIterator Start(int exampleCount, int batchSize, int? numEpochs, ulong seed, DateTime? startTime = null)
    {
        var iterator = new TrainingIterator(exampleCount, batchSize, numEpochs, new PythonRandom(seed), startTime ?? DateTime.Now);
        iterator.Reshuffle();
        return iterator;
    }

    /// <summary>The example indices of the next batch, or null when the epochs are done.</summary>
    public IReadOnlyList<int>? Next()
    {
        if (NumEpochs is { } epochs && Epoch >= epochs) return null;
        if (Position >= ExampleCount)
        {
            Position = 0;
            Epoch++;
            if (NumEpochs is { } limit && Epoch >= limit) return null;
            Reshuffle();
        }
        int size = Math.Min(BatchSize, ExampleCount - Position);
        var batch = CurrentPermutation.Skip(Position).Take(size).ToArray();
        Position += size;
        NumIterations++;
        return batch;
    }

    /// <summary>The examples the original app's periodic "validation" loss is computed on (drawing from the same generator).</summary>
    public IReadOnlyList<int> ValidationBatch() => [.. Enumerable.Range(0, Math.Min(ExampleCount, ValidationExamples))];

    private void Reshuffle()
    {
        var permutation = Enumerable.Range(0, ExampleCount).ToList();
        Random.Shuffle(permutation);
        CurrentPermutation = permutation;
    }

    /// <summary>The state as the original app's <c>iterator.json</c>.</summary>
    public string ToJson()
    {
        var state = new JsonObject
        {
            ["position"] = Position,
            ["epoch"] = Epoch,
            ["num_iterations"] = NumIterations,
            ["current_permutation"] = new JsonArray([.. CurrentPermutation.Select(i => JsonValue.Create(i))]),
            ["rng_state"] = new JsonArray(PythonRandom.StateVersion, new JsonArray([.. Random.GetState().Select(w => JsonValue.Create(w))]), null),
            ["batch_size"] = BatchSize,
            ["num_epochs"] = NumEpochs,
            ["start_date_time"] = StartTime.ToString(TimeFormat, CultureInfo.InvariantCulture),
        };
        return state.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads an <c>iterator.json</c> (ours or the original app's) for <paramref name="exampleCount"/> examples.</summary>
    /// <exception cref="FormatException">The file is not an iterator state, or it was saved for another number of examples.</exception>
    public static TrainingIterator FromJson(string json, int exampleCount)
    {
        try
        {
            var state = JsonNode.Parse(json) ?? throw new FormatException("Not a training iterator state: the file is empty.");
            var rng = Field(state, "rng_state").AsArray();
            if (rng.Count != 3 || rng[0]?.GetValue<int>() != PythonRandom.StateVersion || rng[1] is null)
                throw new FormatException($"Not a training iterator state: rng_state is not a version-{PythonRandom.StateVersion} Python random state.");
            if (rng[2] is not null)
                throw new FormatException("The iterator's random state holds a pending Gaussian value, which training never draws.");
            var random = PythonRandom.FromState([.. rng[1]!.AsArray().Select(word => word?.GetValue<long>() ?? -1)]);
            var permutation = Field(state, "current_permutation").AsArray().Select(i => i?.GetValue<int>() ?? -1).ToArray();
            if (!permutation.Order().SequenceEqual(Enumerable.Range(0, exampleCount)))
                throw new FormatException(
                    $"The iterator's permutation [{string.Join(", ", permutation)}] does not list the {exampleCount} training examples: " +
                    "it was saved for another set of images.");
            var start = DateTime.ParseExact(Field(state, "start_date_time").GetValue<string>(), TimeFormat, CultureInfo.InvariantCulture);
            return new TrainingIterator(exampleCount, Field(state, "batch_size").GetValue<int>(), state["num_epochs"]?.GetValue<int>(), random, start)
            {
                Position = Field(state, "position").GetValue<int>(),
                Epoch = Field(state, "epoch").GetValue<int>(),
                NumIterations = Field(state, "num_iterations").GetValue<int>(),
                CurrentPermutation = permutation,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new FormatException($"Not a training iterator state: {e.Message}", e);
        }
    }

    private static JsonNode Field(JsonNode state, string name) =>
        state[name] ?? throw new FormatException($"Not a training iterator state: '{name}' is missing.");
}
