using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace FluxStudio.Analyzers;

/// <summary>
/// Finds TorchSharp Scalars made from a number for the length of one call. TorchSharp hands the Scalar's native
/// pointer to libtorch and no longer references the managed object, so a garbage collection on another thread can
/// run its finalizer, which frees the native Scalar while libtorch still reads it: the call then fails
/// ("Expected false to be true") or computes with a garbage number. A Scalar held by a static field or a
/// <c>using</c> variable lives until the call returns. TorchSharp makes such Scalars itself too: for a tensor operator
/// with a number, for the alpha of 1 that <c>a + b</c>, <c>add</c>, <c>add_</c> and <c>addcdiv</c> pass on when
/// not given one, and for the exponent of <c>square</c>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class TemporaryScalarAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor ImplicitScalar = new(
        "FS0001",
        "Number converted to a temporary TorchSharp Scalar",
        "'{0}' becomes a Scalar that the finalizer may free while libtorch reads it; pass a Scalar held by a static readonly field or a using variable ('using var s = x.ToScalar();')",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NumberOperator = new(
        "FS0002",
        "Tensor operator with a number makes a temporary TorchSharp Scalar",
        "Tensor operator '{0}' with a number makes a Scalar that the finalizer may free while libtorch reads it; use a Scalar held by a static readonly field or a using variable",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor HiddenScalar = new(
        "FS0003",
        "TorchSharp call with a hidden temporary Scalar",
        "'{0}' makes a number of its own (the alpha of 1 of a sum, the exponent 2 of square) a temporary Scalar inside TorchSharp that the finalizer may free while libtorch reads it; pass it, held by a static readonly field ('a.add(b, Scalars.One)', 'a.pow(Scalars.Two)')",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    private const string ScalarType = "TorchSharp.Scalar";
    private const string TensorType = "TorchSharp.torch.Tensor";

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(ImplicitScalar, NumberOperator, HiddenScalar);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterOperationAction(AnalyzeConversion, OperationKind.Conversion);
        context.RegisterOperationAction(AnalyzeOperator, OperationKind.Binary, OperationKind.CompoundAssignment);
        context.RegisterOperationAction(AnalyzeInvocation, OperationKind.Invocation);
    }

    private static void AnalyzeConversion(OperationAnalysisContext context)
    {
        var conversion = (IConversionOperation)context.Operation;
        if (!conversion.IsImplicit || !conversion.Conversion.IsUserDefined || conversion.Type?.ToDisplayString() != ScalarType)
            return;
        if (IsKeptAlive(conversion))
            return;
        context.ReportDiagnostic(Diagnostic.Create(ImplicitScalar, conversion.Syntax.GetLocation(), conversion.Operand.Syntax.ToString()));
    }

    /// <summary>Initializers of static fields and of <c>using</c> variables hold the Scalar past the call.</summary>
    private static bool IsKeptAlive(IConversionOperation conversion) => conversion.Parent switch
    {
        IFieldInitializerOperation field => field.InitializedFields.All(f => f.IsStatic),
        IVariableInitializerOperation { Parent: IVariableDeclaratorOperation { Parent: IVariableDeclarationOperation { Parent: IVariableDeclarationGroupOperation group } } } =>
            group.Parent is IUsingDeclarationOperation or IUsingOperation,
        _ => false,
    };

    private static void AnalyzeOperator(OperationAnalysisContext context)
    {
        var method = context.Operation switch
        {
            IBinaryOperation binary => binary.OperatorMethod,
            ICompoundAssignmentOperation compound => compound.OperatorMethod,
            _ => null,
        };
        if (method?.ContainingType?.ToDisplayString() != TensorType)
            return;
        if (method.Parameters.All(p => p.Type.ToDisplayString() is TensorType or ScalarType))
        {
            // a + b is a.add(b), and s - a is (-a).add(s): both sums take TorchSharp's hidden alpha.
            bool scalarMinusTensor = method.Name == "op_Subtraction" && method.Parameters[0].Type.ToDisplayString() == ScalarType;
            if (method.Name == "op_Addition" || scalarMinusTensor)
                context.ReportDiagnostic(Diagnostic.Create(HiddenScalar, context.Operation.Syntax.GetLocation(), method.Name));
            return;
        }
        context.ReportDiagnostic(Diagnostic.Create(NumberOperator, context.Operation.Syntax.GetLocation(), method.Name));
    }

    /// <summary>
    /// The overloads of add and addcdiv without their multiplier call their sibling with a literal 1, and square is
    /// pow(2).
    /// </summary>
    private static void AnalyzeInvocation(OperationAnalysisContext context)
    {
        var method = ((IInvocationOperation)context.Operation).TargetMethod;
        string? type = method.ContainingType?.ToDisplayString();
        if (type is not (TensorType or "TorchSharp.torch"))
            return;
        int operands = method.Parameters.Count(p => p.Type.ToDisplayString() is TensorType or ScalarType) + (method.IsStatic ? 0 : 1);
        bool hidden = method.Name switch
        {
            "add" or "add_" => operands == 2 && method.Parameters.Length == (method.IsStatic ? 2 : 1),
            "addcdiv" or "addcdiv_" => operands == 3 && method.Parameters.Length == (method.IsStatic ? 3 : 2),
            "square" => true,
            _ => false,
        };
        if (hidden)
            context.ReportDiagnostic(Diagnostic.Create(HiddenScalar, context.Operation.Syntax.GetLocation(), method.Name));
    }
}
