import Foundation
import Testing
import VLLMTestSupport

/// The suite must pass in a fresh clone with nothing beside it: test paths stay inside the
/// repository, and the test sources name no data outside it.
@Suite struct SelfContainedTestsTests {
    @Test func pathsInsideTheRepositoryResolve() throws {
        let url = try RepositoryFiles.resolve("Tests/Fixtures/models/qwen2")
        #expect(url.path.hasPrefix(RepositoryFiles.root.path))
        #expect(FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path))
        #expect(try RepositoryFiles.resolve("Tests/../Models/stories260K").path.hasSuffix("/Models/stories260K"))
    }

    @Test func pathsOutsideTheRepositoryAreRefused() {
        for path in ["../shared/data", "Tests/../../shared", "/tmp", "/"] {
            #expect(throws: RepositoryFiles.OutsideRepository.self, "\(path)") { try RepositoryFiles.resolve(path) }
        }
    }

    /// A test that builds a path by hand could still leave the repository; the sources that the
    /// test command runs must go through `RepositoryFiles` instead. The patterns are split so that
    /// this file does not match itself.
    @Test func testSourcesNameNoPathOutsideTheRepository() throws {
        let forbidden = [
            "../" + "shared", "shared" + "/data", "\"/" + "work/", "\"~" + "/", "homeDirectory" + "ForCurrentUser",
            "NSHome" + "Directory(", "URL(fileURLWithPath: #file" + "Path)",
        ]
        var offenders: [String] = []
        for file in try testSources() {
            let text = try String(contentsOf: file, encoding: .utf8)
            for pattern in forbidden where text.contains(pattern) {
                offenders.append("\(file.path.dropFirst(RepositoryFiles.root.path.count + 1)): \(pattern)")
            }
        }
        #expect(offenders.isEmpty, "test sources that read outside the repository: \(offenders)")
    }

    /// Each folder of copied real-world data says where it comes from and under which licence.
    @Test func copiedDataHasItsOriginNoted() throws {
        let data = RepositoryFiles.url("Tests/Fixtures/data")
        let sources = try String(contentsOf: data.appendingPathComponent("SOURCES.md"), encoding: .utf8)
        for folder in try FileManager.default.contentsOfDirectory(atPath: data.path) where folder != "SOURCES.md" {
            #expect(sources.contains("`\(folder)/"), "Tests/Fixtures/data/SOURCES.md does not describe \(folder)")
        }
    }

    /// The Swift and Python test sources and the scripts the README's test command runs.
    private func testSources() throws -> [URL] {
        var files = [RepositoryFiles.url("scripts/test_server_python.sh"), RepositoryFiles.url(".ci/run")]
        let tests = RepositoryFiles.url("Tests")
        guard let walker = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil) else { return files }
        for case let url as URL in walker where ["swift", "py", "sh"].contains(url.pathExtension) {
            if url.lastPathComponent != "SelfContainedTestsTests.swift" { files.append(url) }
        }
        #expect(files.count > 20, "found only \(files.count) test sources under \(tests.path)")
        return files
    }
}
