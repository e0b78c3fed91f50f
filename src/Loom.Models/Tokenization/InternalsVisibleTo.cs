[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Loom.Models.Tests")]
