using System.Globalization;
using PdfSharp.Drawing;
using PdfSharp.Pdf;
using ScottPlot;

namespace FluxStudio.App.Training;

/// <summary>
/// The loss plot of a training run, the original app's report: the loss of every step so far with its running average,
/// the lowest and highest loss marked, and a summary (image size, steps, last, lowest, highest and average loss). Drawn
/// with ScottPlot as a PNG, and as a one-page PDF (the original's deliverable) holding the summary as text and the chart.
/// </summary>
public static class LossPlot
{
    private const int PngWidth = 1600, PngHeight = 900;

    /// <summary>What the summary says besides the losses.</summary>
    public sealed record Run(int Width, int Height, int TotalSteps);

    public static byte[] Png(IReadOnlyList<LossPoint> losses, Run run)
    {
        ArgumentOutOfRangeException.ThrowIfZero(losses.Count);
        var plot = new Plot();
        double[] steps = [.. losses.Select(point => (double)point.Step)];
        double[] values = [.. losses.Select(point => point.Loss)];
        var line = plot.Add.Scatter(steps, values);
        line.LegendText = "Loss";
        line.MarkerSize = losses.Count <= 200 ? 5 : 0;
        int window = Math.Clamp(losses.Count / 10, 1, 50);
        if (window > 1)
        {
            var average = plot.Add.Scatter(steps, RunningAverage(values, window));
            average.LegendText = $"Average of {window} steps";
            average.MarkerSize = 0;
            average.LineWidth = 3;
        }
        var (lowest, highest) = (losses.MinBy(point => point.Loss)!, losses.MaxBy(point => point.Loss)!);
        Mark(plot, highest, Colors.Red, "Highest");
        Mark(plot, lowest, Colors.Green, "Lowest");
        plot.Title("Training loss");
        plot.XLabel("Step");
        plot.YLabel("Loss");
        plot.Axes.SetLimits(0, Math.Max(run.TotalSteps, losses[^1].Step) + 1, 0, Math.Max(highest.Loss * 1.2, 1e-6));
        plot.ShowLegend(Alignment.UpperRight);
        return plot.GetImageBytes(PngWidth, PngHeight, ImageFormat.Png);
    }

    /// <summary>A landscape A4 page: the title, the summary and <paramref name="png"/> (the chart of <see cref="Png"/>).</summary>
    public static byte[] Pdf(IReadOnlyList<LossPoint> losses, Run run, byte[] png)
    {
        ArgumentOutOfRangeException.ThrowIfZero(losses.Count);
        bool text = PdfFonts.Available;
        using var document = new PdfDocument();
        document.Info.Title = "Training loss";
        document.Info.Creator = AppInfo.Name;
        var page = document.AddPage();
        page.Size = PdfSharp.PageSize.A4;
        page.Orientation = PdfSharp.PageOrientation.Landscape;
        using (var graphics = XGraphics.FromPdfPage(page))
        {
            const double margin = 36;
            double top = margin;
            if (text)
            {
                var title = new XFont(PdfFonts.Family, 18, XFontStyleEx.Bold);
                var body = new XFont(PdfFonts.Family, 10);
                graphics.DrawString("Training loss", title, XBrushes.Black, new XPoint(margin, top + 18));
                top += 30;
                foreach (var line in Summary(losses, run))
                {
                    graphics.DrawString(line, body, XBrushes.Black, new XPoint(margin, top + 10));
                    top += 14;
                }
                top += 8;
            }
            using var stream = new MemoryStream(png);
            using var chart = XImage.FromStream(stream);
            double width = page.Width.Point - 2 * margin;
            double height = Math.Min(width * PngHeight / PngWidth, page.Height.Point - top - margin);
            graphics.DrawImage(chart, margin, top, height * PngWidth / PngHeight, height);
        }
        using var output = new MemoryStream();
        document.Save(output, closeStream: false);
        return output.ToArray();
    }

    /// <summary>The summary lines, as the original app's plot legend gives them.</summary>
    public static IReadOnlyList<string> Summary(IReadOnlyList<LossPoint> losses, Run run)
    {
        var (lowest, highest) = (losses.MinBy(point => point.Loss)!, losses.MaxBy(point => point.Loss)!);
        return
        [
            Invariant($"Image size {run.Width}×{run.Height}"),
            Invariant($"Steps: {losses[^1].Step} of {run.TotalSteps}"),
            Invariant($"Last loss: {losses[^1].Loss:F4}"),
            Invariant($"Lowest loss: {lowest.Loss:F4} (step {lowest.Step})"),
            Invariant($"Highest loss: {highest.Loss:F4} (step {highest.Step})"),
            Invariant($"Average loss: {losses.Average(point => point.Loss):F4}"),
        ];
    }

    private static void Mark(Plot plot, LossPoint point, Color color, string label)
    {
        var marker = plot.Add.Marker(point.Step, point.Loss, MarkerShape.FilledCircle, 10, color);
        marker.LegendText = Invariant($"{label}: {point.Loss:F3} (step {point.Step})");
    }

    private static double[] RunningAverage(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
