using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using UserTcp.Sockets;
using UserTcp.Sockets.Http;

namespace UserTcp.AspNetCore.Tests;

/// <summary>
/// The README's two examples, compiled here and run by <see cref="ReadmeExampleTests"/>, which also checks that the README
/// shows exactly the lines between each "readme:" marker and "readme: end".
/// </summary>
internal static class ReadmeExamples
{
    /// <summary>ASP.NET Core over UserTcp: a minimal API on <paramref name="stack"/>'s port 80, until <paramref name="stop"/>.</summary>
    public static async Task ServeAsync(NetStack stack, CancellationToken stop)
    {
        // readme: aspnetcore
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUserTcp(stack).UseUrls($"http://{stack.Address}:80");
        var app = builder.Build();
        app.MapGet("/hello", () => "Hello from Kestrel over UserTcp\n");
        await app.RunAsync(stop);
        // readme: end
    }

    /// <summary>HttpClient over UserTcp: a GET from 10.77.0.2 through <paramref name="stack"/>.</summary>
    public static async Task<string> GetAsync(NetStack stack)
    {
        // readme: httpclient
        using var http = new HttpClient(UserTcpHttp.CreateHandler(stack));
        string hello = await http.GetStringAsync("http://10.77.0.2/hello");
        // readme: end
        return hello;
    }
}
