using System.Xml.Linq;

namespace UserTcp.Link.Tests;

/// <summary>The product (src/, native-interop/) builds without the test-only projects: no reference points into tests/ or integration/.</summary>
public class ProductLayoutTests
{
    [Fact]
    public void No_product_project_references_a_test_or_testing_project()
    {
        string root = RepositoryRoot();
        var products = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "native-interop"), "*.csproj", SearchOption.AllDirectories))
            .ToList();
        Assert.NotEmpty(products);
        var offending = new List<string>();
        foreach (string project in products)
        {
            foreach (XElement reference in XDocument.Load(project).Descendants("ProjectReference"))
            {
                string target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, reference.Attribute("Include")!.Value.Replace('\\', '/')));
                string relative = Path.GetRelativePath(root, target).Replace('\\', '/');
                if (!relative.StartsWith("src/", StringComparison.Ordinal) && !relative.StartsWith("native-interop/", StringComparison.Ordinal))
                {
                    offending.Add($"{Path.GetRelativePath(root, project)} -> {relative}");
                }
            }
        }
        Assert.True(offending.Count == 0, "product projects reference test code: " + string.Join(", ", offending));
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "UserTcp.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no UserTcp.sln above {AppContext.BaseDirectory}");
    }
}
