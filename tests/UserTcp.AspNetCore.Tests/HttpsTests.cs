using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using UserTcp.Services;
using UserTcp.Sockets.Http;

namespace UserTcp.AspNetCore.Tests;

/// <summary>TLS, and HTTP/2 inside it, over UserTcp: Kestrel's HTTPS on the transport's pipes, HttpClient's on the connection's stream.</summary>
public sealed class HttpsTests
{
    [Fact]
    public async Task Https_with_http2_runs_many_requests_over_one_UserTcp_connection()
    {
        using X509Certificate2 certificate = SelfSigned("10.0.0.2");
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes,
            kestrel: k => k.ConfigureEndpointDefaults(listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }),
            url: "https://10.0.0.2:443");
        SocketsHttpHandler handler = UserTcpHttp.CreateHandler(pair.Client);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString();
        using var http = new HttpClient(handler)
        {
            BaseAddress = new Uri("https://10.0.0.2/"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        // Twenty downloads at once: HTTP/2 streams, multiplexed over a single TLS session on a single TCP connection.
        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(1, 20).Select(i => http.GetAsync($"/bytes/{i * 10_007}", pair.Token)));

        for (int i = 1; i <= 20; i++)
        {
            using HttpResponseMessage response = responses[i - 1];
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal(GeneratedBody.Sha256(i * 10_007), SHA256.HashData(await response.Content.ReadAsByteArrayAsync(pair.Token)));
        }
        Assert.Single(pair.ServerEvents.Connections(443));
    }

    /// <summary>A self-signed server certificate for <paramref name="address"/>, with its private key, as Kestrel loads one from a file.</summary>
    private static X509Certificate2 SelfSigned(string address)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={address}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Parse(address));
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server authentication
        using X509Certificate2 created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), password: null);
    }
}
