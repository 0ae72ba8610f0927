// Intentionally empty: the galley_pch and galley_pch_test targets exist only to compile the
// precompiled headers the other targets reuse (cmake/GalleyPch.cmake).
