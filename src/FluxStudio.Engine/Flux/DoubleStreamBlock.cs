using FluxStudio.Engine.Layers;
using TorchSharp.Modules;
using Linear = FluxStudio.Engine.Layers.Linear;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Flux;

/// <summary>
/// MMDiT block: image and text tokens keep separate weights (modulation, attention projections, MLP) but attend
/// jointly over [text, image].
/// </summary>
public sealed class DoubleStreamBlock : nn.Module
{
#pragma warning disable IDE1006 // checkpoint names
    public readonly Modulation img_mod;
    public readonly SelfAttention img_attn;
    public readonly Sequential img_mlp;
    public readonly Modulation txt_mod;
    public readonly SelfAttention txt_attn;
    public readonly Sequential txt_mlp;
#pragma warning restore IDE1006

    public DoubleStreamBlock(FluxConfig config, ScalarType dtype, Device? device) : base(nameof(DoubleStreamBlock))
    {
        img_mod = new Modulation(config.HiddenSize, isDouble: true, dtype, device);
        img_attn = new SelfAttention(config, dtype, device);
        img_mlp = Mlp(config, dtype, device);
        txt_mod = new Modulation(config.HiddenSize, isDouble: true, dtype, device);
        txt_attn = new SelfAttention(config, dtype, device);
        txt_mlp = Mlp(config, dtype, device);
        RegisterComponents();
    }

    internal static Sequential Mlp(FluxConfig config, ScalarType dtype, Device? device) => nn.Sequential(
        ("0", new Linear(config.HiddenSize, config.MlpHiddenDim, true, dtype, device)),
        ("1", new TanhGelu()),
        ("2", new Linear(config.MlpHiddenDim, config.HiddenSize, true, dtype, device)));

    public (Tensor Img, Tensor Txt) Forward(Tensor img, Tensor txt, Tensor vec, Tensor pe)
    {
        using var scope = NewDisposeScope();
        var (imgMod1, imgMod2) = img_mod.Forward(vec);
        var (txtMod1, txtMod2) = txt_mod.Forward(vec);

        var (imgQ, imgK, imgV) = img_attn.QueryKeyValue(imgMod1.Apply(Modulation.Norm(img)));
        var (txtQ, txtK, txtV) = txt_attn.QueryKeyValue(txtMod1.Apply(Modulation.Norm(txt)));
        var attention = Attention.Forward(cat([txtQ, imgQ], 2), cat([txtK, imgK], 2), cat([txtV, imgV], 2), pe);
        long textLength = txt.shape[1];
        var txtAttention = attention.narrow(1, 0, textLength);
        var imgAttention = attention.narrow(1, textLength, attention.shape[1] - textLength);

        img = imgMod1.AddGated(img, img_attn.proj.forward(imgAttention));
        img = imgMod2!.Value.AddGated(img, img_mlp.forward(imgMod2.Value.Apply(Modulation.Norm(img))));
        txt = txtMod1.AddGated(txt, txt_attn.proj.forward(txtAttention));
        txt = txtMod2!.Value.AddGated(txt, txt_mlp.forward(txtMod2.Value.Apply(Modulation.Norm(txt))));
        return (img.MoveToOuterDisposeScope(), txt.MoveToOuterDisposeScope());
    }
}
