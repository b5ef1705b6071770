from apikeys import tokens


def test_it_makes_keys_of_the_documented_shape():
    key = tokens.generate()
    assert key.startswith("nx_") and len(key) == 3 + 32 + 6
    assert tokens.is_well_formed(key)


def test_it_detects_a_typo_through_the_checksum():
    key = tokens.generate()
    body_character = key[10]
    typo = key[:10] + ("a" if body_character != "a" else "b") + key[11:]
    assert not tokens.is_well_formed(typo)
    assert not tokens.is_well_formed(key[:-1])
    assert not tokens.is_well_formed(key + "x")
    assert not tokens.is_well_formed("sk_" + key[3:])
    assert not tokens.is_well_formed(key[:20] + "-" + key[21:])


def test_it_shows_only_a_prefix_and_the_last_four():
    key = tokens.generate()
    prefix, last_four = tokens.display_parts(key)
    assert prefix == key[:7] and last_four == key[-4:]
