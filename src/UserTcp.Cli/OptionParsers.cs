using System.CommandLine.Parsing;
using System.Globalization;

namespace UserTcp.Cli;

/// <summary>
/// Custom parsers that convert and range-check in one step, so a bad value becomes one parse error
/// (validators that read a value which failed to convert would throw instead).
/// </summary>
internal static class OptionParsers
{
    public static Func<ArgumentResult, int> Int(string option, int min, int max) => result =>
    {
        string text = result.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
        {
            return value;
        }
        result.AddError($"{option} must be a whole number from {min} to {max}, not '{text}'");
        return default;
    };

    public static Func<ArgumentResult, double> Seconds(string option, double max) => result =>
    {
        string text = result.Tokens[0].Value;
        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) && value > 0 && value <= max)
        {
            return value;
        }
        result.AddError($"{option} must be a number of seconds above 0 and at most {max}, not '{text}'");
        return default;
    };

    /// <summary>A comma-separated list of percentages from 0 to <paramref name="max"/>, e.g. "1,5,10".</summary>
    public static Func<ArgumentResult, double[]> Percentages(string option, double max) => result =>
    {
        string text = result.Tokens[0].Value;
        var values = new List<double>();
        foreach (string part in text.Split(','))
        {
            if (!double.TryParse(part.Trim().TrimEnd('%'), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value)
                || value < 0 || value > max)
            {
                result.AddError($"{option} must be percentages from 0 to {max} separated by commas (e.g. 1,5,10), not '{text}'");
                return [];
            }
            values.Add(value);
        }
        return [.. values];
    };

    public static Func<ArgumentResult, T> Text<T>(TryParse<T> tryParse) => result =>
    {
        string? problem = tryParse(result.Tokens[0].Value, out T value);
        if (problem is null)
        {
            return value;
        }
        result.AddError(problem);
        return default!;
    };

    /// <summary>
    /// What is wrong with <paramref name="path"/> as a file the command will create (null when nothing): empty, a
    /// directory, or in a directory that does not exist. The empty check comes first: Path.GetFullPath throws on "".
    /// </summary>
    public static string? NewFileProblem(string option, string path, string example)
    {
        if (path.Length == 0 || Directory.Exists(path)) return $"{option} '{path}' is not a file name: give a path such as {example}";
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        return directory is not null && !Directory.Exists(directory) ? $"{option} '{path}': directory {directory} does not exist" : null;
    }

    /// <summary>Parses text; returns null on success, otherwise what is wrong with it and how to write it.</summary>
    public delegate string? TryParse<T>(string text, out T value);
}
