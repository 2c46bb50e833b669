using System.Buffers.Binary;

namespace FluxStudio.App.Tests.BackgroundRemoval.TestModels;

/// <summary>
/// A matting model with RMBG-2.0's contract, small enough to build in the test: a 1×1 convolution mixes the three
/// normalised channels of each pixel into one value, z = Σ w_c·x_c + b, optionally followed by a sigmoid. So the
/// expected mask of any pixel can be computed by hand: (p/255 − mean_c)/std_c per channel, then z, then σ(z).
/// </summary>
internal sealed record TinyMattingModel
{
    public string InputName { get; init; } = "pixel_values";
    /// <summary>Null leaves the dimension dynamic, as some exports do.</summary>
    public int? Height { get; init; } = 32;
    public int? Width { get; init; } = 32;
    /// <summary>Anything but 3 makes a graph that is not an RGB image model.</summary>
    public int InputChannels { get; init; } = 3;
    public float[] Weights { get; init; } = [1.5f, -2f, 0.75f];
    public float Bias { get; init; } = 0.25f;
    /// <summary>True: the graph ends in a sigmoid (probabilities). False: it gives logits.</summary>
    public bool EndsInSigmoid { get; init; } = true;
    /// <summary>Float16 input and output, as half-precision exports have (the arithmetic stays in float32 inside).</summary>
    public bool HalfPrecision { get; init; }
    /// <summary>Puts a decoy output (a different convolution) first, as RMBG's exports list several side outputs before the mask.</summary>
    public bool WithSideOutputFirst { get; init; }

    private static readonly double[] Mean = [0.485, 0.456, 0.406];
    private static readonly double[] Std = [0.229, 0.224, 0.225];

    /// <summary>The logit the model computes for one 8-bit RGB pixel, computed independently of the code under test.</summary>
    public double Logit(byte red, byte green, byte blue)
    {
        byte[] rgb = [red, green, blue];
        var z = (double)Bias;
        for (var c = 0; c < 3; c++) z += Weights[c] * ((rgb[c] / 255.0 - Mean[c]) / Std[c]);
        return z;
    }

    public double Probability(byte red, byte green, byte blue) => 1 / (1 + Math.Exp(-Logit(red, green, blue)));

    public string WriteTo(string folder, string fileName = "model.onnx")
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, fileName);
        File.WriteAllBytes(path, ToOnnxBytes());
        return path;
    }

    public byte[] ToOnnxBytes()
    {
        // Field numbers from onnx/onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, TypeProto).
        var graph = new ProtobufWriter().String(2, "tiny_matting");
        var mainOutput = EndsInSigmoid ? "mask" : "logits";
        var image = InputName;
        if (HalfPrecision)
        {
            graph.Message(1, Node("Cast", [InputName], "image_float", new ProtobufWriter().String(1, "to").Int(3, Float).Int(20, 2 /* INT */)));
            image = "image_float";
        }
        var outputs = new List<string>();
        if (WithSideOutputFirst)
        {
            graph.Message(1, Node("Conv", [image, "side_weight", "bias"], "side"));
            outputs.Add("side");
        }
        graph.Message(1, Node("Conv", [image, "weight", "bias"], "logits"));
        if (EndsInSigmoid) graph.Message(1, Node("Sigmoid", ["logits"], "mask"));
        if (HalfPrecision)
        {
            graph.Message(1, Node("Cast", [mainOutput], mainOutput + "_half", new ProtobufWriter().String(1, "to").Int(3, Float16).Int(20, 2)));
            mainOutput += "_half";
        }
        outputs.Add(mainOutput);

        graph.Message(5, FloatTensor("weight", [1, InputChannels, 1, 1], Weights));
        graph.Message(5, FloatTensor("bias", [1], [Bias]));
        if (WithSideOutputFirst) graph.Message(5, FloatTensor("side_weight", [1, 3, 1, 1], [-3f, 4f, -5f]));

        var elementType = HalfPrecision ? Float16 : Float;
        graph.Message(11, ValueInfo(InputName, elementType, [1, InputChannels, Height, Width]));
        foreach (var output in outputs) graph.Message(12, ValueInfo(output, output == mainOutput ? elementType : Float, [1, 1, Height, Width]));

        return new ProtobufWriter()
            .Int(1, 8)                                          // ir_version
            .String(2, "FluxStudio tests")                      // producer_name
            .Message(7, graph)
            .Message(8, new ProtobufWriter().Int(2, 17))        // opset_import: default domain, opset 17
            .ToArray();
    }

    /// <summary>TensorProto.DataType values.</summary>
    private const int Float = 1, Float16 = 10;

    private static ProtobufWriter Node(string opType, string[] inputs, string output, ProtobufWriter? attribute = null)
    {
        var node = new ProtobufWriter();
        foreach (var input in inputs) node.String(1, input);
        node.String(2, output).String(3, $"{opType}_{output}").String(4, opType);
        return attribute is null ? node : node.Message(5, attribute);
    }

    private static ProtobufWriter FloatTensor(string name, long[] dimensions, float[] values)
    {
        var tensor = new ProtobufWriter();
        foreach (var dimension in dimensions) tensor.Int(1, dimension);
        var raw = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        return tensor.Int(2, Float).String(8, name).Bytes(9, raw);
    }

    private static ProtobufWriter ValueInfo(string name, int elementType, int?[] dimensions)
    {
        var shape = new ProtobufWriter();
        var symbol = 0;
        foreach (var dimension in dimensions)
            shape.Message(1, dimension is { } size ? new ProtobufWriter().Int(1, size) : new ProtobufWriter().String(2, $"d{symbol++}"));
        var tensorType = new ProtobufWriter().Int(1, elementType).Message(2, shape);
        return new ProtobufWriter().String(1, name).Message(2, new ProtobufWriter().Message(1, tensorType));
    }
}
