using FluxStudio.Engine.Text;

namespace FluxStudio.Engine.Tests.Text;

public sealed class TokenizerFileTests : IDisposable
{
    private readonly string _modelFolder = Directory.CreateTempSubdirectory("fluxstudio-tokenizers-").FullName;

    public TokenizerFileTests()
    {
        CopyFolder(Fixtures.Path("tokenizers", "clip"), ClipFolder);
        CopyFolder(Fixtures.Path("tokenizers", "t5"), T5Folder);
    }

    private string ClipFolder => Path.Combine(_modelFolder, FluxTokenizers.ClipFolderName);

    private string T5Folder => Path.Combine(_modelFolder, FluxTokenizers.T5FolderName);

    public void Dispose() => Directory.Delete(_modelFolder, recursive: true);

    [Fact]
    public void Both_tokenizers_load_from_a_diffusers_model_folder()
    {
        var tokenizers = FluxTokenizers.FromModelFolder(_modelFolder);

        Assert.Equal(TokenizerGoldens.Ids("plain_short", "clip_ids"), tokenizers.Clip.Encode("a photo of a cat"));
        Assert.Equal(TokenizerGoldens.Ids("plain_short", "t5_ids_256"), tokenizers.T5.Encode("a photo of a cat", 256));
    }

    [Theory]
    [InlineData(ClipTokenizer.VocabularyFileName)]
    [InlineData(ClipTokenizer.MergesFileName)]
    public void A_missing_clip_file_is_named_with_what_to_do(string fileName)
    {
        File.Delete(Path.Combine(ClipFolder, fileName));

        var error = Assert.Throws<TokenizerFileException>(() => FluxTokenizers.FromModelFolder(_modelFolder));

        Assert.Equal(Path.Combine(ClipFolder, fileName), error.FilePath);
        Assert.Contains(Path.Combine(ClipFolder, fileName), error.Message);
        Assert.Contains("does not exist", error.Message);
        Assert.Contains("Download the model again", error.Message);
    }

    [Fact]
    public void A_missing_model_folder_names_the_first_file_it_needs()
    {
        Directory.Delete(ClipFolder, recursive: true);

        var error = Assert.Throws<TokenizerFileException>(() => FluxTokenizers.FromModelFolder(_modelFolder));

        Assert.Contains(Path.Combine(ClipFolder, ClipTokenizer.VocabularyFileName), error.Message);
        Assert.Contains("'tokenizer' folder", error.Message);
    }

    [Fact]
    public void A_missing_spiece_model_is_named_and_tokenizer_json_alone_is_explained()
    {
        File.Delete(Path.Combine(T5Folder, T5Tokenizer.ModelFileName));

        var error = Assert.Throws<TokenizerFileException>(() => FluxTokenizers.FromModelFolder(_modelFolder));

        Assert.Equal(Path.Combine(T5Folder, T5Tokenizer.ModelFileName), error.FilePath);
        Assert.Contains("only has tokenizer.json", error.Message);
        Assert.Contains("Download the model again", error.Message);

        File.Delete(Path.Combine(T5Folder, "tokenizer.json"));
        error = Assert.Throws<TokenizerFileException>(() => FluxTokenizers.FromModelFolder(_modelFolder));
        Assert.Contains("'tokenizer_2' folder", error.Message);
    }

    [Theory]
    [InlineData("{\"a\": 1, \"b\": ")]
    [InlineData("[1, 2, 3]")]
    [InlineData("{}")]
    public void A_damaged_vocabulary_is_reported_as_damaged(string content)
    {
        var path = Path.Combine(ClipFolder, ClipTokenizer.VocabularyFileName);
        File.WriteAllText(path, content);

        var error = Assert.Throws<TokenizerFileException>(() => ClipTokenizer.FromFolder(ClipFolder));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("damaged or incomplete", error.Message);
    }

    [Fact]
    public void A_vocabulary_without_clip_special_tokens_is_refused()
    {
        var path = Path.Combine(ClipFolder, ClipTokenizer.VocabularyFileName);
        File.WriteAllText(path, "{\"a</w>\": 0, \"b</w>\": 1}");

        var error = Assert.Throws<TokenizerFileException>(() => ClipTokenizer.FromFolder(ClipFolder));

        Assert.Contains("<|startoftext|>", error.Message);
        Assert.Contains("not a CLIP vocabulary", error.Message);
    }

    [Theory]
    [InlineData("#version: 0.2\ni n\nthis line has three\n")]
    [InlineData("#version: 0.2\n")]
    public void Damaged_merges_are_reported_with_the_file(string content)
    {
        var path = Path.Combine(ClipFolder, ClipTokenizer.MergesFileName);
        File.WriteAllText(path, content);

        var error = Assert.Throws<TokenizerFileException>(() => ClipTokenizer.FromFolder(ClipFolder));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("download the model again", error.Message);
    }

    [Fact]
    public void Merges_cut_short_are_reported_instead_of_silently_tokenizing_differently()
    {
        var path = Path.Combine(ClipFolder, ClipTokenizer.MergesFileName);
        File.WriteAllLines(path, File.ReadLines(path).Take(30000).ToList());

        var error = Assert.Throws<TokenizerFileException>(() => ClipTokenizer.FromFolder(ClipFolder));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("29999 merge rules", error.Message);
    }

    [Fact]
    public void A_truncated_spiece_model_is_reported_as_damaged()
    {
        var path = Path.Combine(T5Folder, T5Tokenizer.ModelFileName);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<TokenizerFileException>(() => T5Tokenizer.FromFolder(T5Folder));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("not a SentencePiece model", error.Message);
        Assert.Contains("download the model again", error.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_sentencepiece_model_is_refused()
    {
        var path = Path.Combine(T5Folder, T5Tokenizer.ModelFileName);
        File.WriteAllText(path, "{\"this is\": \"json, not a protocol buffer\"}");

        var error = Assert.Throws<TokenizerFileException>(() => T5Tokenizer.FromFolder(T5Folder));

        Assert.Equal(path, error.FilePath);
        Assert.Contains("damaged or incomplete", error.Message);
    }

    private static void CopyFolder(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }
    }
}
