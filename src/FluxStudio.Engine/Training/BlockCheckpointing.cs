using FluxStudio.Engine.Flux;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Training;

/// <summary>
/// Gradient checkpointing of the transformer's blocks: during the forward pass a block keeps only its inputs (the hidden
/// states, about 9 MB per block for FLUX.1 at 512²), and the backward pass runs the block again, with autograd, to get
/// its gradients. The peak memory of a training step then holds one block's activations instead of all 57, for about one
/// more forward pass of compute. TorchSharp has no torch.utils.checkpoint, so this is a custom autograd function
/// (<see cref="RecomputedBlock"/>) whose backward recomputes the block and differentiates it with autograd.grad.
/// </summary>
/// <remarks>
/// The block's trainable factors are passed to the function as inputs, so autograd routes their gradients through it
/// (and a block whose hidden-state inputs need no gradient, such as the first one, still trains its own factors). Blocks
/// without trainable factors and without inputs that need gradients run plainly, recording nothing.
/// </remarks>
public sealed class BlockCheckpointing(IReadOnlyDictionary<nn.Module, Tensor[]> factorsByBlock) : IBlockRunner
{
    private readonly List<Tensor> _handedOver = [];

    public Tensor[] Run(nn.Module block, Func<Tensor[], Tensor[]> forward, Tensor[] inputs)
    {
        var factors = factorsByBlock.GetValueOrDefault(block, []);
        if (!is_grad_enabled() || (factors.Length == 0 && !inputs.Any(input => input.requires_grad)))
            return forward(inputs);
        return [.. RecomputedBlock.apply([this, forward, inputs.Length, .. inputs, .. factors])];
    }

    /// <summary>Frees the gradients the backward passes handed to autograd; call after the backward pass.</summary>
    public void ReleaseGradients()
    {
        foreach (var gradient in _handedOver) gradient.Dispose();
        _handedOver.Clear();
    }

    /// <summary>Gradients returned to libtorch stay alive until it has taken them, so they are disposed later, not on return.</summary>
    internal void HandOver(IEnumerable<Tensor?> gradients)
    {
        foreach (var gradient in gradients)
            if (gradient is { IsInvalid: false }) _handedOver.Add(gradient.DetachFromDisposeScope());
    }
}

/// <summary>
/// apply(owner, forward, n, inputs₁…ₙ, factors…): forward(inputs) without a graph; the backward pass recomputes it with
/// one and returns the gradients of the inputs and factors.
/// </summary>
internal sealed class RecomputedBlock : autograd.MultiTensorFunction<RecomputedBlock>
{
    private const string OwnerKey = "owner", ForwardKey = "forward", FactorsKey = "factors";

    public override string Name => nameof(RecomputedBlock);

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        int count = (int)vars[2];
        var inputs = vars.Skip(3).Take(count).Cast<Tensor>().ToArray();
        var forward = (Func<Tensor[], Tensor[]>)vars[1];
        ctx.save_for_backward([.. inputs]);
        ctx.save_data(OwnerKey, vars[0]);
        ctx.save_data(ForwardKey, forward);
        // The factors are leaves that live as long as the LoRA; they are inputs only so that autograd routes their gradients here.
        ctx.save_data(FactorsKey, vars.Skip(3 + count).Cast<Tensor>().ToArray());
        return [.. forward(inputs)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        var owner = (BlockCheckpointing)ctx.get_data(OwnerKey);
        var forward = (Func<Tensor[], Tensor[]>)ctx.get_data(ForwardKey);
        var factors = (Tensor[])ctx.get_data(FactorsKey);
        List<Tensor?> gradients;
        using (var scope = NewDisposeScope())
        {
            using var _ = enable_grad();
            var inputs = ctx.get_saved_variables().Select(input => input.detach().requires_grad_(input.requires_grad)).ToArray();
            var outputs = forward(inputs);
            var differentiable = Enumerable.Range(0, outputs.Length).Where(i => outputs[i].requires_grad).ToArray();
            var wrt = inputs.Where(input => input.requires_grad).Concat(factors).ToArray();
            var results = autograd.grad([.. differentiable.Select(i => outputs[i])], wrt,
                [.. differentiable.Select(i => gradOutputs[i])], allow_unused: true);
            int next = 0;
            var inputGradients = inputs.Select(input => input.requires_grad ? results[next++] : null).ToList();
            gradients = [.. inputGradients, .. results.Skip(next)];
            owner.HandOver(gradients);
        }
        // One entry per argument of apply: none for the owner, the function and the count.
        return [null!, null!, null!, .. gradients.Select(g => g is null || g.IsInvalid ? null! : g)];
    }
}
