namespace UserTcp.Services.Tests;

public sealed class ServiceSpecTests
{
    [Fact]
    public void Names_take_their_rfc_ports_and_a_port_can_be_given()
    {
        Assert.Null(ServiceSpec.TryParseList("echo, HTTP:8080", out IReadOnlyList<ServiceSpec> services));
        Assert.Equal([new ServiceSpec("echo", 7), new ServiceSpec("http", 8080)], services);
        Assert.Null(ServiceSpec.TryParseList("all", out IReadOnlyList<ServiceSpec> all));
        Assert.Equal("echo 7, discard 9, daytime 13, chargen 19, http 80", string.Join(", ", all));
    }

    [Theory]
    [InlineData("echo,ftp", "unknown service 'ftp': choose from echo, discard, daytime, chargen, http (or all)")]
    [InlineData("echo,,http", "has an empty name")]
    [InlineData("http:0", "has a bad port")]
    [InlineData("http:65536", "has a bad port")]
    [InlineData("echo:80,http", "two services on port 80")]
    public void Mistakes_say_what_is_wrong(string text, string problem) =>
        Assert.Contains(problem, ServiceSpec.TryParseList(text, out _), StringComparison.Ordinal);
}
